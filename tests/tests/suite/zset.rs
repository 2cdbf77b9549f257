//! `zset<T>` fields: members with scores, as priority queues and per-instance leaderboards.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rapyer::Error;
use rapyer_tests::fixtures::indexes::Ladder;
use rapyer_tests::harness::TestRedis;
use redis::AsyncCommands;

fn ladder() -> Ladder {
    let mut l = Ladder::new("l");
    l.players = BTreeMap::from([("ann".to_string(), 3.5), ("bob".to_string(), -1.0)]);
    l.jobs = BTreeMap::from([(7, 2.0), (9, 1.0)]);
    l
}

rapyer_tests::on_all!(every_zset_operation_returns_what_it_did);
async fn every_zset_operation_returns_what_it_did(t: TestRedis) {
    let repo = Ladder::repo(&t.client);
    let l = ladder();
    repo.insert(&l).await.unwrap();
    assert_eq!(repo.get("l").await.unwrap().as_ref(), Some(&l));

    let players = repo.fields("l").players();
    assert!(players.add("cid", 10.0).await.unwrap());
    assert!(!players.add("cid", 0.5).await.unwrap());
    assert_eq!(players.score("cid").await.unwrap(), Some(0.5));
    assert_eq!(players.incr("bob", 1e-20).await.unwrap(), -1.0 + 1e-20);
    assert_eq!(players.incr("new", 2.0).await.unwrap(), 2.0);
    assert_eq!(players.len().await.unwrap(), 4);
    let by_rank = players.range_by_rank(0, -1).await.unwrap();
    let names: Vec<&str> = by_rank.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["bob", "cid", "new", "ann"]);
    assert_eq!(players.rank("ann").await.unwrap(), Some(3));
    assert_eq!(players.rank_from_top("ann").await.unwrap(), Some(0));
    assert_eq!(players.rank("nobody").await.unwrap(), None);
    assert_eq!(
        players.range_by_score(0.0, 2.0).await.unwrap(),
        vec![("cid".to_string(), 0.5), ("new".to_string(), 2.0)]
    );
    assert_eq!(
        players.peek_max().await.unwrap(),
        Some(("ann".to_string(), 3.5))
    );
    assert_eq!(players.peek_min().await.unwrap().unwrap().0, "bob");

    // A priority queue: lowest score out first; empty pops give None.
    let jobs = repo.fields("l").jobs();
    assert_eq!(jobs.pop_min().await.unwrap(), Some((9, 1.0)));
    assert_eq!(jobs.pop_max().await.unwrap(), Some((7, 2.0)));
    assert_eq!(jobs.pop_min().await.unwrap(), None);
    assert!(players.remove("new").await.unwrap());
    assert!(!players.remove("new").await.unwrap());

    // Overflow and non-finite scores are refused, writing nothing.
    players.add("big", 1e308).await.unwrap();
    let err = players.incr("big", 1e308).await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err}");
    assert_eq!(players.score("big").await.unwrap(), Some(1e308));
    assert!(matches!(
        players.add("x", f64::NAN).await,
        Err(Error::Encode { .. })
    ));
    players.clear().await.unwrap();
    assert_eq!(players.len().await.unwrap(), 0);

    // A missing instance: NotFound, nothing created.
    let ghost = repo.fields("ghost").players();
    assert!(matches!(
        ghost.add("a", 1.0).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        ghost.incr("a", 1.0).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(ghost.pop_min().await, Err(Error::NotFound { .. })));
    assert!(!repo.exists("ghost").await.unwrap());
}

rapyer_tests::on_all!(zset_updates_diff_and_pipelines_are_all_or_nothing);
async fn zset_updates_diff_and_pipelines_are_all_or_nothing(t: TestRedis) {
    let repo = Ladder::repo(&t.client);
    repo.insert(&ladder()).await.unwrap();
    repo.update("l", |l| {
        l.players.remove("bob");
        l.players.insert("ann".into(), 9.0);
        l.players.insert("dee".into(), 4.0);
        Ok::<_, std::convert::Infallible>(())
    })
    .await
    .unwrap();
    let stored = repo.get("l").await.unwrap().unwrap();
    assert_eq!(
        stored.players,
        BTreeMap::from([("ann".to_string(), 9.0), ("dee".to_string(), 4.0)])
    );

    let players = repo.fields("l").players();
    let mut p = t.client.pipeline();
    p.add(players.add("eve", 1.0));
    p.add(players.incr("ann", 1e308));
    p.add(players.incr("ann", 1e308)); // overflows: nothing of the pipeline applies
    let err = p.exec().await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err}");
    assert_eq!(players.score("eve").await.unwrap(), None);
    assert_eq!(players.score("ann").await.unwrap(), Some(9.0));

    // A key created by an operation takes the instance's TTL.
    repo.fields("l").jobs().clear().await.unwrap();
    repo.fields("l").jobs().add(1, 1.0).await.unwrap();
    let jobs_key = format!("{}:jobs", repo.key_of("l").unwrap());
    let ms: i64 = t.raw().await.pttl(&jobs_key).await.unwrap();
    assert!(ms > 86_000_000, "{ms}");
    repo.expire("l", Duration::from_secs(100)).await.unwrap();
    let ms: i64 = t.raw().await.pttl(&jobs_key).await.unwrap();
    assert!((1..=100_000).contains(&ms), "{ms}");
}

rapyer_tests::on_all!(
    racing_increments_lose_nothing,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn racing_increments_lose_nothing(t: TestRedis) {
    let repo = Ladder::repo(&t.client);
    repo.insert(&Ladder::new("l")).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..10 {
                    let players = repo.fields("l").players();
                    players.incr("shared", 0.5).await.unwrap();
                    players.incr(format!("p{}", task % 8), 1.0).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let players = repo.get("l").await.unwrap().unwrap().players;
    assert_eq!(players["shared"], 320.0);
    assert_eq!(players.values().sum::<f64>(), 320.0 + 640.0);
}
