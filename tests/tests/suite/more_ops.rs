//! The newer field operations: map `take` and `insert_if_absent`, set `remove_many` and set
//! algebra, string and bytes `append`, datetime `add`. Each is one atomic step: round trips,
//! 64 racing tasks losing nothing, missing instances untouched, and all or nothing in pipelines.

use std::collections::BTreeSet;
use std::sync::Arc;

use rapyer::Error;
use rapyer::chrono::TimeDelta;
use rapyer_tests::fixtures::all_types::{Sample, SampleRepo};
use rapyer_tests::fixtures::indexes::{Gamer, Guild, Region};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::{at, full_sample};

async fn saved(t: &TestRedis, names: &[&str]) -> SampleRepo {
    let repo = Sample::repo(&t.client);
    for name in names {
        repo.save(&full_sample(name)).await.unwrap();
    }
    repo
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_string()).collect()
}

rapyer_tests::on_all!(each_new_operation_returns_what_it_did);
async fn each_new_operation_returns_what_it_did(t: TestRedis) {
    let repo = saved(&t, &["s", "u"]).await;
    let (s, u) = (repo.fields("s"), repo.fields("u"));

    // Map: take and insert_if_absent.
    let map = s.map_text();
    assert!(map.insert_if_absent("fresh", "v1").await.unwrap());
    assert!(!map.insert_if_absent("fresh", "v2").await.unwrap());
    assert_eq!(map.take("fresh").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(map.take("fresh").await.unwrap(), None);
    assert!(!map.contains("fresh").await.unwrap());

    // Set: remove_many and algebra, on one instance's set and another's.
    s.set_text().clear().await.unwrap();
    u.set_text().clear().await.unwrap();
    s.set_text()
        .add_many(["a", "b", "c", "d"].map(String::from))
        .await
        .unwrap();
    u.set_text()
        .add_many(["c", "d", "e"].map(String::from))
        .await
        .unwrap();
    let (ss, us) = (s.set_text(), u.set_text());
    assert_eq!(
        ss.union(&[&us]).await.unwrap(),
        set(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(ss.intersection(&[&us]).await.unwrap(), set(&["c", "d"]));
    assert_eq!(ss.difference(&[&us]).await.unwrap(), set(&["a", "b"]));
    assert_eq!(ss.union(&[]).await.unwrap(), set(&["a", "b", "c", "d"]));
    let missing_other = repo.fields("nobody").set_text();
    assert_eq!(ss.intersection(&[&missing_other]).await.unwrap(), set(&[]));
    assert_eq!(
        ss.remove_many(["a", "z"].map(String::from)).await.unwrap(),
        1
    );
    assert_eq!(ss.remove_many([]).await.unwrap(), 0);
    assert_eq!(ss.members().await.unwrap(), set(&["b", "c", "d"]));

    // Append: text (UTF-8 length), bytes, an unset optional string.
    s.text().set("héllo").await.unwrap();
    assert_eq!(s.text().append(" wörld").await.unwrap(), 13);
    assert_eq!(s.text().get().await.unwrap(), "héllo wörld");
    s.raw().set(vec![0u8, 1]).await.unwrap();
    assert_eq!(s.raw().append(&[0xff]).await.unwrap(), 3);
    assert_eq!(s.raw().get().await.unwrap(), vec![0, 1, 0xff]);
    s.opt_text().clear().await.unwrap();
    assert_eq!(s.opt_text().append("x").await.unwrap(), 1);
    assert_eq!(s.opt_text().get().await.unwrap().as_deref(), Some("x"));

    // Datetime add: exactly chrono's sum, forward and back; out of range is refused.
    let start = at(1_714_564_800, 1_000);
    s.at().set(start).await.unwrap();
    for by in [
        TimeDelta::microseconds(999_999),
        TimeDelta::nanoseconds(-1),
        TimeDelta::days(-20_000),
        TimeDelta::days(365 * 3000),
    ] {
        let before = s.at().get().await.unwrap();
        assert_eq!(
            s.at().add(by).await.unwrap(),
            before + by,
            "{before} + {by}"
        );
        assert_eq!(s.at().get().await.unwrap(), before + by);
    }
    let before = s.at().get().await.unwrap();
    let err = s.at().add(TimeDelta::days(365 * 9000)).await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err}");
    assert_eq!(s.at().get().await.unwrap(), before, "nothing written");
    s.opt_at().clear().await.unwrap();
    let err = s.opt_at().add(TimeDelta::seconds(1)).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
}

rapyer_tests::on_all!(indexes_follow_append_and_add);
async fn indexes_follow_append_and_add(t: TestRedis) {
    // A unique string grows: its old value is freed, the new one taken (or refused).
    let guilds = Guild::repo(&t.client);
    let (a, b) = (
        Guild::new("red", Region::Eu),
        Guild::new("redder", Region::Us),
    );
    guilds.insert(&a).await.unwrap();
    guilds.insert(&b).await.unwrap();
    let err = guilds.fields(&a.id).name().append("der").await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation { .. }), "{err}");
    assert_eq!(guilds.fields(&a.id).name().append("dest").await.unwrap(), 7);
    assert_eq!(guilds.get_by_name("red").await.unwrap(), None);
    assert_eq!(
        guilds.get_by_name("reddest").await.unwrap().unwrap().id,
        a.id
    );

    // A sorted datetime moves with add.
    let gamers = Gamer::repo(&t.client);
    let mut g = Gamer::new("g", "g@x");
    g.seen = Some(at(1_700_000_000, 0));
    gamers.insert(&g).await.unwrap();
    let later = gamers
        .fields("g")
        .seen()
        .add(TimeDelta::hours(5))
        .await
        .unwrap();
    assert_eq!(later, at(1_700_018_000, 0));
    assert_eq!(
        gamers.by_seen().range(later, later, 0, 10).await.unwrap(),
        vec!["g".to_string()]
    );
}

rapyer_tests::on_all!(new_operations_on_a_missing_instance_create_nothing);
async fn new_operations_on_a_missing_instance_create_nothing(t: TestRedis) {
    let repo = saved(&t, &["s"]).await;
    let (m, other) = (repo.fields("m"), repo.fields("s"));
    let other_set = other.set_text();
    let results = [
        m.map_text().take("k").await.map(drop),
        m.map_text().insert_if_absent("k", "v").await.map(drop),
        m.set_text().remove_many(["a".to_string()]).await.map(drop),
        m.set_text().union(&[&other_set]).await.map(drop),
        m.set_text().intersection(&[&other_set]).await.map(drop),
        m.set_text().difference(&[&other_set]).await.map(drop),
        m.text().append("x").await.map(drop),
        m.raw().append(b"x").await.map(drop),
        m.at().add(TimeDelta::seconds(1)).await.map(drop),
    ];
    for (i, result) in results.into_iter().enumerate() {
        assert!(
            matches!(result, Err(Error::NotFound { ref pk, .. }) if pk == "m"),
            "op {i}: {result:?}"
        );
    }
    assert!(!repo.exists("m").await.unwrap());
    let keys = t.keys().await;
    assert!(keys.iter().all(|k| !k.contains("}:m")), "{keys:?}");
}

rapyer_tests::on_all!(
    racing_tasks_lose_nothing,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn racing_tasks_lose_nothing(t: TestRedis) {
    const TASKS: usize = 64;
    const EACH: usize = 10;
    let repo = saved(&t, &["s"]).await;
    let f = repo.fields("s");
    f.text().set("").await.unwrap();
    let start = at(1_700_000_000, 0);
    f.at().set(start).await.unwrap();
    f.map_text().clear().await.unwrap();
    let keys: Vec<String> = (0..TASKS * EACH).map(|i| format!("k{i}")).collect();
    f.map_text()
        .insert_many(keys.iter().map(|k| (k.clone(), k.clone())))
        .await
        .unwrap();
    f.set_text().clear().await.unwrap();
    f.set_text().add_many(keys.iter().cloned()).await.unwrap();
    let keys = Arc::new(keys);

    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (repo, keys, barrier) = (repo.clone(), keys.clone(), barrier.clone());
            tokio::spawn(async move {
                let f = repo.fields("s");
                barrier.wait().await;
                let (mut taken, mut removed, mut first) = (Vec::new(), 0, 0);
                for i in 0..EACH {
                    f.text().append("x").await.unwrap();
                    f.at().add(TimeDelta::microseconds(1)).await.unwrap();
                    // Every task tries a window of keys that overlaps its neighbours'.
                    for k in [
                        &keys[(task * EACH + i) % keys.len()],
                        &keys[(task * EACH + i + EACH) % keys.len()],
                    ] {
                        if let Some(v) = f.map_text().take(k).await.unwrap() {
                            assert_eq!(&v, k);
                            taken.push(v);
                        }
                    }
                    let window =
                        (0..3).map(|j| keys[(task * EACH + i + j * 7) % keys.len()].clone());
                    removed += f.set_text().remove_many(window).await.unwrap();
                    if f.map_count()
                        .insert_if_absent("only", task as i64)
                        .await
                        .unwrap()
                    {
                        first += 1;
                    }
                }
                (taken, removed, first)
            })
        })
        .collect();
    let (mut taken, mut removed, mut firsts) = (Vec::new(), 0, 0);
    for task in tasks {
        let (t, r, f) = task.await.unwrap();
        taken.extend(t);
        removed += r;
        firsts += f;
    }
    assert_eq!(
        f.text().get().await.unwrap().len(),
        TASKS * EACH,
        "appends lost"
    );
    assert_eq!(
        f.at().get().await.unwrap(),
        start + TimeDelta::microseconds((TASKS * EACH) as i64),
        "adds lost"
    );
    let unique: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(unique.len(), taken.len(), "an entry was taken twice");
    let left = f.map_text().len().await.unwrap() as usize;
    assert_eq!(taken.len() + left, TASKS * EACH, "entries lost");
    let members = f.set_text().len().await.unwrap();
    assert_eq!(
        removed + members,
        (TASKS * EACH) as u64,
        "removals double-counted or lost"
    );
    assert_eq!(firsts, 1, "insert_if_absent won more than once");
}

rapyer_tests::on_all!(new_operations_in_a_pipeline_are_all_or_nothing);
async fn new_operations_in_a_pipeline_are_all_or_nothing(t: TestRedis) {
    let repo = saved(&t, &["s"]).await;
    let f = repo.fields("s");
    f.map_text().insert("k", "v").await.unwrap();
    f.text().set("a").await.unwrap();
    let start = at(1_700_000_000, 0);
    f.at().set(start).await.unwrap();
    f.set_text().clear().await.unwrap();
    f.set_text().add("x").await.unwrap();
    let build = |fail: bool| {
        let mut p = t.client.pipeline();
        let took = p.add(f.map_text().take("k"));
        let len = p.add(f.text().append("b"));
        let moved = p.add(f.at().add(TimeDelta::seconds(60)));
        let removed = p.add(f.set_text().remove_many(["x".to_string()]));
        let added = p.add(f.map_text().insert_if_absent("n", "1"));
        if fail {
            // The last op overflows: nothing before it may stay applied.
            p.add(f.at().add(TimeDelta::days(365 * 9000)));
        }
        (p, took, len, moved, removed, added)
    };
    let (p, ..) = build(true);
    let err = p.exec().await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err}");
    assert_eq!(f.map_text().get("k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(f.text().get().await.unwrap(), "a");
    assert_eq!(f.at().get().await.unwrap(), start);
    assert!(f.set_text().contains("x").await.unwrap());
    assert!(!f.map_text().contains("n").await.unwrap());

    let (p, took, len, moved, removed, added) = build(false);
    let mut results = p.exec().await.unwrap();
    assert_eq!(results.take(took).unwrap().as_deref(), Some("v"));
    assert_eq!(results.take(len).unwrap(), 2);
    assert_eq!(results.take(moved).unwrap(), start + TimeDelta::seconds(60));
    assert_eq!(results.take(removed).unwrap(), 1);
    assert!(results.take(added).unwrap());
}
