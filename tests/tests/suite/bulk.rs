//! Bulk and atomic writes: get_or_insert raced by many tasks, update-only replace, and
//! insert_many / save_many / delete_many with per-instance outcomes and their calls counted.

use std::sync::Arc;

use rapyer::Error;
use rapyer_tests::fixtures::indexes::{Gamer, Guild, Region};
use rapyer_tests::fixtures::keys_and_ttl::Account;
use rapyer_tests::harness::TestRedis;

rapyer_tests::on_all!(
    get_or_insert_raced_on_one_pk_inserts_once,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn get_or_insert_raced_on_one_pk_inserts_once(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut g = Gamer::new("racer", format!("r{i}@x"));
                g.score = i;
                barrier.wait().await;
                repo.get_or_insert(&g).await.unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let inserted: Vec<&Gamer> = results
        .iter()
        .filter(|(_, new)| *new)
        .map(|(g, _)| g)
        .collect();
    assert_eq!(inserted.len(), 1, "exactly one inserts");
    let stored = repo.get("racer").await.unwrap().unwrap();
    assert_eq!(inserted[0], &stored);
    assert!(
        results.iter().all(|(g, _)| g == &stored),
        "all return the stored instance"
    );
    // Only the winner's unique value is taken.
    assert_eq!(
        repo.by_email()
            .pk(stored.email.clone())
            .await
            .unwrap()
            .as_deref(),
        Some("racer")
    );
    let loser = format!("r{}@x", (stored.score + 1) % 32);
    assert_eq!(repo.by_email().pk(loser).await.unwrap(), None);
}

rapyer_tests::on_all!(
    get_or_insert_raced_on_one_unique_value_inserts_once,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn get_or_insert_raced_on_one_unique_value_inserts_once(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            tokio::spawn(async move {
                let g = Gamer::new(format!("h{i}"), "same@x");
                barrier.wait().await;
                repo.get_or_insert(&g).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut holders = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok((g, true)) => winners.push(g),
            Ok((_, false)) => panic!("no other instance had these pks"),
            Err(Error::UniqueViolation { holder, .. }) => holders.push(holder),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one inserts");
    let winner = &winners[0];
    assert!(holders.iter().all(|h| *h == winner.handle), "{holders:?}");
    assert_eq!(
        repo.get_by_email("same@x").await.unwrap().as_ref(),
        Some(winner)
    );
    assert_eq!(repo.count().await.unwrap(), 1, "the losers wrote nothing");
}

rapyer_tests::on_all!(replace_refuses_a_missing_instance);
async fn replace_refuses_a_missing_instance(t: TestRedis) {
    let repo = Guild::repo(&t.client);
    let g = Guild::new("A", Region::Eu);
    let err = repo.replace(&g).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!repo.exists(&g.id).await.unwrap());
    assert_eq!(
        repo.get_by_name("A").await.unwrap(),
        None,
        "no index entry either"
    );
    repo.insert(&g).await.unwrap();
    let mut changed = g.clone();
    changed.name = "B".into();
    repo.replace(&changed).await.unwrap();
    assert_eq!(repo.get(&g.id).await.unwrap(), Some(changed));
    assert_eq!(repo.get_by_name("A").await.unwrap(), None);
}

rapyer_tests::on_all!(bulk_writes_report_each_instance);
async fn bulk_writes_report_each_instance(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    repo.insert(&Gamer::new("old", "old@x")).await.unwrap();
    let batch = vec![
        Gamer::new("a", "a@x"),
        Gamer::new("old", "other@x"), // exists
        Gamer::new("b", "a@x"),       // a@x taken by the first of this batch
        Gamer::new("c", "c@x"),
    ];
    let results = repo.insert_many(&batch).await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(Error::AlreadyExists { .. })),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(Error::UniqueViolation { ref holder, .. }) if holder == "a"),
        "{:?}",
        results[2]
    );
    assert!(results[3].is_ok());
    assert_eq!(repo.count().await.unwrap(), 3);
    assert_eq!(
        repo.get_by_email("other@x").await.unwrap(),
        None,
        "a refused instance writes nothing"
    );

    let mut saved = batch.clone();
    saved[1].score = 7;
    saved.remove(2);
    let results = repo.save_many(&saved).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(repo.get("old").await.unwrap().unwrap().score, 7);
    assert_eq!(
        repo.get_by_email("other@x").await.unwrap().unwrap().handle,
        "old"
    );

    let deleted = repo.delete_many(&["a", "zz", "old", ""]).await;
    assert!(matches!(deleted[0], Ok(true)));
    assert!(matches!(deleted[1], Ok(false)));
    assert!(matches!(deleted[2], Ok(true)));
    assert!(matches!(deleted[3], Err(Error::InvalidKey { .. })));
    assert_eq!(repo.all().await.unwrap(), vec!["c".to_string()]);
    assert_eq!(
        repo.by_score().len().await.unwrap(),
        1,
        "index entries went with them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_instances_take_twenty_calls_each_way() {
    let t = TestRedis::new().await;
    let repo = Account::repo(&t.client);
    // Load both scripts, so that no call below is a NOSCRIPT retry.
    assert!(repo.insert_many(&[Account::new(-1)]).await[0].is_ok());
    assert!(matches!(repo.delete_many(&[&-1]).await[0], Ok(true)));

    let accounts: Vec<Account> = (0..10_000).map(Account::new).collect();
    let before = t.atomic_steps().await;
    let results = repo.insert_many(&accounts).await;
    let calls = t.atomic_steps().await - before;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(repo.count().await.unwrap(), 10_000);
    eprintln!("insert_many of 10,000: {calls} script calls, sent concurrently");
    assert_eq!(calls, 20, "10,000 / 500 per call");

    let pks: Vec<i64> = (0..10_000).collect();
    let refs: Vec<&i64> = pks.iter().collect();
    let before = t.atomic_steps().await;
    let deleted = repo.delete_many(&refs).await;
    let calls = t.atomic_steps().await - before;
    assert!(deleted.iter().all(|r| matches!(r, Ok(true))));
    assert_eq!(repo.count().await.unwrap(), 0);
    eprintln!("delete_many of 10,000: {calls} script calls, sent concurrently");
    assert_eq!(calls, 20);
    assert!(t.keys().await.is_empty(), "every key went");
}
