//! Per-instance batches (`repo.batch(pk)`: handles that queue and return slots, one atomic step)
//! and generated patches (`<Model>Patch`: several fields of one instance in one step).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rapyer::Error;
use rapyer::redis::AsyncCommands;
use rapyer_tests::fixtures::all_types::{Sample, SamplePatch};
use rapyer_tests::fixtures::indexes::{Gamer, GamerPatch, Ladder, LadderPatch, Stats};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::{empty_sample, full_sample};

rapyer_tests::on_all!(a_batch_queues_through_its_handles_and_returns_typed_slots);
async fn a_batch_queues_through_its_handles_and_returns_typed_slots(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    repo.save(&empty_sample("b")).await.unwrap();

    let batch = repo.batch("b");
    let f = batch.fields();
    let count = f.count().incr(5);
    let again = f.count().incr(2);
    let len = f.list_text().push_back("x");
    f.map_count().insert("k", 7);
    let entry = f.map_count().get("k");
    f.opt_text().set("set");
    let text = f.opt_text().get();
    let exists = batch.expect_exists();
    let mut results = batch.exec().await.unwrap();
    assert_eq!(results.take(count).unwrap(), 5);
    assert_eq!(results.take(again).unwrap(), 7);
    assert_eq!(results.take(len).unwrap(), 1);
    assert_eq!(results.take(entry).unwrap(), Some(7));
    assert_eq!(results.take(text).unwrap(), Some("set".to_string()));
    results.take(exists).unwrap();
    // A slot gives its result once.
    assert!(matches!(results.take(count), Err(Error::Pipeline(_))));

    let stored = repo.get("b").await.unwrap().unwrap();
    assert_eq!(stored.count, 7);
    assert_eq!(stored.list_text, vec!["x".to_string()]);
    assert_eq!(stored.opt_text.as_deref(), Some("set"));
}

rapyer_tests::on_all!(batches_append_to_a_pipeline_and_run_in_its_one_step);
async fn batches_append_to_a_pipeline_and_run_in_its_one_step(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    for name in ["a1", "a2"] {
        repo.save(&empty_sample(name)).await.unwrap();
    }
    let (one, two) = (repo.batch("a1"), repo.batch("a2"));
    let first = one.fields().count().incr(1);
    let second = two.fields().count().incr(2);
    let mut p = t.client.pipeline();
    let direct = p.add(repo.fields("a1").count().incr(10));
    p.append(one).append(two);
    let after = p.add(repo.fields("a2").count().get());
    let mut results = p.exec().await.unwrap();
    assert_eq!(results.take(direct).unwrap(), 10);
    assert_eq!(results.take(first).unwrap(), 11);
    assert_eq!(results.take(second).unwrap(), 2);
    assert_eq!(results.take(after).unwrap(), 2);

    // All or nothing with the pipeline: a failed condition in an appended batch writes nothing.
    let batch = repo.batch("a1");
    batch.fields().count().expect_eq(0);
    let mut p = t.client.pipeline();
    p.add(repo.fields("a2").count().incr(100));
    p.append(batch);
    assert!(matches!(p.exec().await, Err(Error::ConditionFailed { .. })));
    assert_eq!(repo.fields("a2").count().get().await.unwrap(), 2);

    // A batch built on another client (another connection) is refused, nothing written.
    let other = t.builder().connect().await.unwrap();
    let foreign = Sample::repo(&other).batch("a1");
    foreign.fields().count().incr(5);
    let mut p = t.client.pipeline();
    p.add(repo.fields("a2").count().incr(100));
    p.append(foreign);
    assert!(matches!(p.exec().await, Err(Error::Pipeline(_))));
    assert_eq!(repo.fields("a1").count().get().await.unwrap(), 11);
    assert_eq!(repo.fields("a2").count().get().await.unwrap(), 2);

    // A slot of another batch is refused by these results.
    let stray = repo.batch("a1");
    let foreign = stray.fields().count().get();
    let mut results = repo.batch("a1").exec().await.unwrap();
    assert!(matches!(results.take(foreign), Err(Error::Pipeline(_))));
}

rapyer_tests::on_all!(a_batch_with_a_failed_condition_or_a_missing_instance_writes_nothing);
async fn a_batch_with_a_failed_condition_or_a_missing_instance_writes_nothing(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let sample = empty_sample("c");
    repo.save(&sample).await.unwrap();
    let batch = repo.batch("c");
    let f = batch.fields();
    f.count().incr(1);
    f.list_count().push_back(1);
    f.count().expect_gt(5);
    match batch.exec().await {
        Err(Error::ConditionFailed {
            field, condition, ..
        }) => {
            assert_eq!(field, "count");
            assert_eq!(condition, "gt 5");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(repo.get("c").await.unwrap().unwrap(), sample);

    // A missing instance: NotFound, nothing created, even for a batch of reads or an empty one.
    let batch = repo.batch("ghost");
    batch.fields().count().incr(1);
    assert!(matches!(batch.exec().await, Err(Error::NotFound { .. })));
    let batch = repo.batch("ghost");
    batch.expect_exists();
    assert!(matches!(batch.exec().await, Err(Error::NotFound { .. })));
    assert!(!repo.exists("ghost").await.unwrap());
    assert!(!t.keys().await.iter().any(|k| k.contains("ghost")));
}

rapyer_tests::on_all!(
    racing_batches_lose_no_increment,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn racing_batches_lose_no_increment(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    repo.save(&empty_sample("r")).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let batch = repo.batch("r");
                let f = batch.fields();
                f.count().incr(1);
                f.ratio().incr(0.5);
                f.set_count().add(i);
                batch.exec().await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stored = repo.get("r").await.unwrap().unwrap();
    assert_eq!(stored.count, 64);
    assert_eq!(stored.ratio, 32.0);
    assert_eq!(stored.set_count, (0..64).collect::<BTreeSet<i64>>());
}

/// A patch carrying every field `s` has that a patch can write.
fn patch_of(s: &Sample) -> SamplePatch {
    SamplePatch {
        flag: Some(s.flag),
        count: Some(s.count),
        ratio: Some(s.ratio),
        text: Some(s.text.clone()),
        raw: Some(s.raw.clone()),
        at: Some(s.at),
        ident: Some(s.ident),
        data: Some(s.data.clone()),
        color: Some(s.color),
        opt_flag: Some(s.opt_flag),
        opt_count: Some(s.opt_count),
        opt_ratio: Some(s.opt_ratio),
        opt_text: Some(s.opt_text.clone()),
        opt_raw: Some(s.opt_raw.clone()),
        opt_at: Some(s.opt_at),
        opt_ident: Some(s.opt_ident),
        opt_data: Some(s.opt_data.clone()),
        opt_color: Some(s.opt_color),
        opt_inner: Some(s.opt_inner.clone()),
        list_count: Some(s.list_count.clone()),
        list_ratio: Some(s.list_ratio.clone()),
        list_text: Some(s.list_text.clone()),
        list_raw: Some(s.list_raw.clone()),
        list_at: Some(s.list_at.clone()),
        list_ident: Some(s.list_ident.clone()),
        list_data: Some(s.list_data.clone()),
        list_color: Some(s.list_color.clone()),
        list_inner: Some(s.list_inner.clone()),
        list_list: Some(s.list_list.clone()),
        list_opt: Some(s.list_opt.clone()),
        set_flag: Some(s.set_flag.clone()),
        set_count: Some(s.set_count.clone()),
        set_text: Some(s.set_text.clone()),
        set_raw: Some(s.set_raw.clone()),
        set_at: Some(s.set_at.clone()),
        set_ident: Some(s.set_ident.clone()),
        set_color: Some(s.set_color.clone()),
        map_count: Some(s.map_count.clone()),
        map_ratio: Some(s.map_ratio.clone()),
        map_text: Some(s.map_text.clone()),
        map_raw: Some(s.map_raw.clone()),
        map_color: Some(s.map_color.clone()),
        map_inner: Some(s.map_inner.clone()),
        map_list: Some(s.map_list.clone()),
    }
}

rapyer_tests::on_all!(a_patch_writes_every_kind_of_field_in_one_step);
async fn a_patch_writes_every_kind_of_field_in_one_step(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let empty = empty_sample("p");
    repo.save(&empty).await.unwrap();

    // Every field (but the key and a struct holding a container) to the full sample's values.
    let full = full_sample("p");
    repo.patch("p", &patch_of(&full)).await.unwrap();
    let mut expected = full.clone();
    expected.nested = empty.nested.clone();
    assert_eq!(repo.get("p").await.unwrap().unwrap(), expected);

    // And back: optionals cleared, containers emptied (their keys gone).
    let mut back = empty.clone();
    back.nested = empty.nested.clone();
    repo.patch("p", &patch_of(&back)).await.unwrap();
    assert_eq!(repo.get("p").await.unwrap().unwrap(), back);
    let stored = t.keys().await;
    assert!(
        stored
            .iter()
            .all(|k| !k.contains("list_") && !k.contains("set_")),
        "{stored:?}"
    );

    // An empty patch changes nothing; on a missing instance it is NotFound, nothing created.
    repo.patch("p", &SamplePatch::default()).await.unwrap();
    assert_eq!(repo.get("p").await.unwrap().unwrap(), back);
    let err = repo.patch("ghost", &patch_of(&full)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!t.keys().await.iter().any(|k| k.contains("ghost")));

    // A patch queued in a batch beside other operations, all in one step.
    let batch = repo.batch("p");
    batch.patch(&SamplePatch {
        count: Some(40),
        ..Default::default()
    });
    let count = batch.fields().count().incr(2);
    assert_eq!(batch.exec().await.unwrap().take(count).unwrap(), 42);
}

rapyer_tests::on_all!(a_patch_moves_indexes_and_checks_unique_values);
async fn a_patch_moves_indexes_and_checks_unique_values(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    repo.insert(&Gamer::new("ann", "ann@x")).await.unwrap();
    repo.insert(&Gamer::new("bob", "bob@x")).await.unwrap();

    repo.patch(
        "ann",
        &GamerPatch {
            email: Some("ann@new".into()),
            score: Some(90),
            badge: Some(Some(7)),
            stats: Some(Stats {
                wins: 12,
                rating: 1.5,
                title: Some("champ".into()),
            }),
            tags: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ann = repo.get("ann").await.unwrap().unwrap();
    assert_eq!(
        (ann.email.as_str(), ann.score, ann.badge),
        ("ann@new", 90, Some(7))
    );
    assert_eq!(ann.stats.title.as_deref(), Some("champ"));
    assert_eq!(ann.tags, vec!["a".to_string(), "b".to_string()]);
    // The indexes followed: the unique values moved, the sorted entries too.
    assert_eq!(
        repo.by_email().pk("ann@new").await.unwrap().as_deref(),
        Some("ann")
    );
    assert_eq!(repo.by_email().pk("ann@x").await.unwrap(), None);
    assert_eq!(repo.by_badge().pk(7).await.unwrap().as_deref(), Some("ann"));
    assert_eq!(repo.by_score().top(1).await.unwrap()[0], "ann");
    assert_eq!(repo.by_stats_wins().top(1).await.unwrap()[0], "ann");

    // A value another instance holds: refused, nothing of the patch written.
    let err = repo
        .patch(
            "bob",
            &GamerPatch {
                score: Some(500),
                email: Some("ann@new".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UniqueViolation { .. }), "{err}");
    let bob = repo.get("bob").await.unwrap().unwrap();
    assert_eq!((bob.email.as_str(), bob.score), ("bob@x", 0));
    assert_eq!(repo.by_score().top(1).await.unwrap()[0], "ann");

    // A struct handle of a batch reads and writes the whole struct, its index following.
    let batch = repo.batch("bob");
    let before = batch.fields().stats().get();
    batch.fields().stats().set(&Stats {
        wins: 99,
        rating: 0.0,
        title: None,
    });
    let after = batch.fields().stats().get();
    let mut results = batch.exec().await.unwrap();
    assert_eq!(results.take(before).unwrap(), bob.stats);
    assert_eq!(results.take(after).unwrap().wins, 99);
    assert_eq!(repo.by_stats_wins().top(1).await.unwrap()[0], "bob");
}

rapyer_tests::on_all!(a_patch_replaces_sorted_set_fields);
async fn a_patch_replaces_sorted_set_fields(t: TestRedis) {
    let repo = Ladder::repo(&t.client);
    let mut ladder = Ladder::new("l");
    ladder.players = BTreeMap::from([("old".to_string(), 1.0)]);
    repo.insert(&ladder).await.unwrap();
    let players = BTreeMap::from([("a".to_string(), 2.5), ("b".to_string(), -1.0)]);
    repo.patch(
        "l",
        &LadderPatch {
            players: Some(players.clone()),
            jobs: Some(BTreeMap::from([(3, 0.0)])),
        },
    )
    .await
    .unwrap();
    let stored = repo.get("l").await.unwrap().unwrap();
    assert_eq!(stored.players, players);
    assert_eq!(stored.jobs, BTreeMap::from([(3, 0.0)]));
    // The new container key took the instance's TTL.
    let jobs_key = repo
        .keys_of("l")
        .unwrap()
        .into_iter()
        .find(|k| k.ends_with("jobs"))
        .unwrap();
    let ttl: i64 = t.raw().await.pttl(&jobs_key).await.unwrap();
    assert!(ttl > 0, "{jobs_key}: pttl {ttl}");
}
