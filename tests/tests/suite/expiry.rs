//! Expiring instances with indexes: queries never see an expired instance, a unique value of an
//! expired holder is free for the next writer, `expire`/`persist`/`ttl` move every key of an
//! instance together, and index memory returns to its baseline after a churn of expiries.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rapyer::{Error, Model as _};
use rapyer_tests::fixtures::indexes::{Pass, PassRepo, Ping, Presence, Region};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::rng::Rng;
use redis::AsyncCommands;

const REGIONS: [Region; 3] = [Region::Eu, Region::Us, Region::Asia];
/// Short enough to pass between two checks, long enough to outlast the step that set it.
const SHORT: Duration = Duration::from_millis(25);

/// What the test believes: the live instances, and those doomed to expire (left alone until
/// they surely have).
#[derive(Default)]
struct World {
    live: BTreeMap<String, Pass>,
    doomed: BTreeMap<String, Pass>,
}

impl World {
    /// The pk holding `token`, live or doomed.
    fn holder(&self, token: &str) -> Option<(&String, bool)> {
        let live = self.live.values().find(|p| p.token == token);
        let doomed = self.doomed.values().find(|p| p.token == token);
        live.map(|p| (&p.id, true))
            .or(doomed.map(|p| (&p.id, false)))
    }
}

fn random_pass(rng: &mut Rng, id: String) -> Pass {
    let mut p = Pass::new(id, format!("t{}", rng.below(40)));
    p.level = rng.below(12) as i64 - 3;
    p.region = REGIONS[rng.below(3) as usize];
    if rng.chance(50) {
        p.perks.insert(format!("p{}", rng.below(3)));
    }
    p
}

/// One random step through a write path; the world follows what must have happened.
async fn step(rng: &mut Rng, repo: &PassRepo, world: &mut World, seen: &mut BTreeMap<&str, u32>) {
    let id = format!("p{}", rng.below(60));
    if world.doomed.contains_key(&id) {
        return; // may or may not have expired yet: left alone until the next check
    }
    let live = world.live.get(&id).cloned();
    let mut count = |what: &'static str| *seen.entry(what).or_default() += 1;
    match (rng.below(9), live) {
        (0..=2, _) => {
            let p = random_pass(rng, id.clone());
            let holder = world.holder(&p.token).map(|(h, live)| (h.clone(), live));
            if holder.as_ref().is_some_and(|(h, live)| !live && *h != id) {
                return; // held by a doomed instance: the outcome depends on the clock
            }
            let result = repo.save(&p).await;
            match holder {
                Some((h, _)) if h != id => {
                    assert!(
                        matches!(result, Err(Error::UniqueViolation { .. })),
                        "{result:?}"
                    );
                    count("violations");
                }
                _ => {
                    result.unwrap();
                    world.live.insert(id, p);
                    count("saves");
                }
            }
        }
        (3, Some(p)) => {
            let by = rng.below(5) as i64 - 2;
            assert_eq!(
                repo.fields(&id).level().incr(by).await.unwrap(),
                p.level + by
            );
            world.live.get_mut(&id).unwrap().level += by;
            count("field ops");
        }
        (4, Some(_)) => {
            let token = format!("t{}", rng.below(40));
            let region = REGIONS[rng.below(3) as usize];
            let holder = world.holder(&token).map(|(h, live)| (h.clone(), live));
            if holder.as_ref().is_some_and(|(h, live)| !live && *h != id) {
                return;
            }
            let mut pipe = repo.client().pipeline();
            pipe.add(repo.fields(&id).token().set(token.clone()));
            pipe.add(repo.fields(&id).region().set(region));
            let result = pipe.exec().await;
            match holder {
                Some((h, _)) if h != id => {
                    assert!(
                        matches!(result, Err(Error::UniqueViolation { .. })),
                        "{result:?}"
                    );
                    count("violations");
                }
                _ => {
                    result.unwrap();
                    let p = world.live.get_mut(&id).unwrap();
                    (p.token, p.region) = (token, region);
                    count("pipelines");
                }
            }
        }
        (5, Some(_)) => {
            let by = rng.below(3) as i64 + 1;
            repo.update(&id, |p| {
                p.level -= by;
                Ok::<_, std::convert::Infallible>(())
            })
            .await
            .unwrap();
            world.live.get_mut(&id).unwrap().level -= by;
            count("updates");
        }
        (6, Some(p)) if rng.chance(30) => {
            // Sliding expiry: a read leaves the TTL alone, a write re-arms the model's day.
            repo.expire(&id, Duration::from_secs(60)).await.unwrap();
            assert_eq!(repo.get(&id).await.unwrap().as_ref(), Some(&p));
            assert!(repo.ttl(&id).await.unwrap().unwrap() <= Duration::from_secs(60));
            repo.fields(&id).level().incr(0).await.unwrap();
            let left = repo.ttl(&id).await.unwrap().unwrap();
            assert!(left > Duration::from_secs(86_000), "not re-armed: {left:?}");
            count("sliding refreshes");
        }
        (6, Some(p)) => {
            repo.expire(&id, SHORT).await.unwrap();
            world.live.remove(&id);
            world.doomed.insert(id, p);
            count("short expiries");
        }
        (7, Some(_)) => {
            if rng.chance(50) {
                repo.persist(&id).await.unwrap();
                assert_eq!(repo.ttl(&id).await.unwrap(), None);
                count("persists");
            } else {
                repo.expire(&id, Duration::from_secs(3600)).await.unwrap();
                let left = repo.ttl(&id).await.unwrap().unwrap();
                assert!(left > Duration::from_secs(3500), "{left:?}");
                count("long expiries");
            }
        }
        (8, Some(_)) => {
            assert!(repo.delete(&id).await.unwrap());
            world.live.remove(&id);
            count("deletes");
        }
        (_, None) => {
            assert!(matches!(
                repo.fields(&id).level().incr(1).await,
                Err(Error::NotFound { .. })
            ));
            assert!(matches!(
                repo.expire(&id, SHORT).await,
                Err(Error::NotFound { .. })
            ));
            count("missing");
        }
        _ => unreachable!(),
    }
}

/// Every query against a brute force over the live instances.
async fn check(repo: &PassRepo, world: &World) {
    let live = &world.live;
    assert_eq!(repo.count().await.unwrap(), live.len() as u64, "count");
    let mut all = repo.all().await.unwrap();
    all.sort();
    assert_eq!(all, live.keys().cloned().collect::<Vec<_>>(), "all");

    // Sorted: highest level first, ties by pk descending.
    let mut top: Vec<(i64, &String)> = live.values().map(|p| (p.level, &p.id)).collect();
    top.sort_by(|a, b| b.cmp(a));
    let top: Vec<String> = top.into_iter().map(|(_, id)| id.clone()).collect();
    let by_level = repo.by_level();
    assert_eq!(by_level.len().await.unwrap(), top.len() as u64, "len");
    assert_eq!(by_level.top(1000).await.unwrap(), top, "top");
    for (rank, id) in top.iter().enumerate() {
        assert_eq!(
            by_level.rank(id).await.unwrap(),
            Some(rank as u64),
            "rank {id}"
        );
    }
    for id in world.doomed.keys() {
        assert_eq!(
            by_level.rank(id).await.unwrap(),
            None,
            "rank of expired {id}"
        );
    }
    let between = live.values().filter(|p| (0..=4).contains(&p.level)).count();
    assert_eq!(
        by_level.count(0, 4).await.unwrap(),
        between as u64,
        "count 0..=4"
    );
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = by_level
            .range_page(-100, 100, after.as_ref(), 7)
            .await
            .unwrap();
        walked.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    walked.reverse();
    assert_eq!(walked.len(), top.len(), "paged range");

    // Unique: each live token names its holder; a doomed one names nobody.
    for p in live.values() {
        assert_eq!(
            repo.by_token().pk(p.token.clone()).await.unwrap().as_ref(),
            Some(&p.id)
        );
        assert_eq!(
            repo.get_by_token(p.token.clone()).await.unwrap().as_ref(),
            Some(p)
        );
    }
    for p in world.doomed.values() {
        if world.holder(&p.token).is_none_or(|(_, live)| !live) {
            assert_eq!(
                repo.by_token().pk(p.token.clone()).await.unwrap(),
                None,
                "expired token"
            );
        }
    }

    // Lookup: each region's pks in pk order.
    for region in REGIONS {
        let expected: Vec<String> = live
            .values()
            .filter(|p| p.region == region)
            .map(|p| p.id.clone())
            .collect();
        assert_eq!(
            repo.by_region().find(region, 0, 1000).await.unwrap(),
            expected
        );
        assert_eq!(
            repo.by_region().count(region).await.unwrap(),
            expected.len() as u64
        );
    }
}

rapyer_tests::on_all!(queries_over_expiring_instances_equal_a_brute_force_over_live_ones);
async fn queries_over_expiring_instances_equal_a_brute_force_over_live_ones(t: TestRedis) {
    let repo = Pass::repo(&t.client);
    let mut world = World::default();
    let mut rng = Rng(0xe3b1_7a11_0000_0001);
    let mut seen = BTreeMap::new();
    for _ in 0..12 {
        for _ in 0..80 {
            step(&mut rng, &repo, &mut world, &mut seen).await;
        }
        // Whatever was doomed has now expired.
        tokio::time::sleep(SHORT * 3).await;
        check(&repo, &world).await;
        world.doomed.clear();
    }
    for what in [
        "saves",
        "violations",
        "field ops",
        "pipelines",
        "updates",
        "short expiries",
    ] {
        assert!(
            seen.get(what).copied().unwrap_or(0) >= 5,
            "{what} barely exercised: {seen:?}"
        );
    }
    eprintln!("{} live at the end; {seen:?}", world.live.len());
}

rapyer_tests::on_all!(an_expired_holder_frees_its_unique_value_in_the_writers_step);
async fn an_expired_holder_frees_its_unique_value_in_the_writers_step(t: TestRedis) {
    let repo = Pass::repo(&t.client);
    repo.insert(&Pass::new("a", "gold")).await.unwrap();
    let err = repo.insert(&Pass::new("b", "gold")).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation { .. }), "{err}");
    repo.expire("a", SHORT).await.unwrap();
    tokio::time::sleep(SHORT * 2).await;
    // No query ran in between: the insert itself finds the holder expired.
    repo.insert(&Pass::new("b", "gold")).await.unwrap();
    assert_eq!(
        repo.by_token().pk("gold").await.unwrap().as_deref(),
        Some("b")
    );
    // And a field op too.
    repo.insert(&Pass::new("c", "silver")).await.unwrap();
    repo.expire("b", SHORT).await.unwrap();
    tokio::time::sleep(SHORT * 2).await;
    repo.fields("c").token().set("gold").await.unwrap();
    assert_eq!(repo.get_by_token("gold").await.unwrap().unwrap().id, "c");
    // A re-created pk starts clean: its old incarnation's entries are gone.
    repo.insert(&Pass::new("a", "bronze")).await.unwrap();
    assert_eq!(
        repo.by_token().pk("gold").await.unwrap().as_deref(),
        Some("c")
    );
    assert_eq!(repo.by_level().len().await.unwrap(), 2);
    // expire/persist/ttl on a missing instance are NotFound and write nothing.
    assert!(matches!(repo.ttl("zz").await, Err(Error::NotFound { .. })));
    assert!(matches!(
        repo.persist("zz").await,
        Err(Error::NotFound { .. })
    ));
    assert!(!repo.exists("zz").await.unwrap());
}

rapyer_tests::on_all!(expire_and_persist_move_every_key_of_the_instance);
async fn expire_and_persist_move_every_key_of_the_instance(t: TestRedis) {
    let repo = Pass::repo(&t.client);
    let mut p = Pass::new("a", "gold");
    p.perks.insert("x".into());
    repo.insert(&p).await.unwrap();
    let guard = repo.lock("a", "edit").await.unwrap();
    guard.release().await.unwrap();
    let mut conn = t.raw().await;
    let instance_keys = {
        let mut keys = repo.keys_of("a").unwrap();
        keys.push(format!("{}:lock:", repo.key_of("a").unwrap()));
        keys
    };
    let pttls = |conn: &mut rapyer::Connection| {
        let mut conn = conn.clone();
        let keys = instance_keys.clone();
        async move {
            let mut out = Vec::new();
            for k in &keys {
                let ms: i64 = conn.pttl(k).await.unwrap();
                out.push(ms);
            }
            out
        }
    };
    repo.expire("a", Duration::from_secs(100)).await.unwrap();
    for ms in pttls(&mut conn).await {
        assert!((99_000..=100_000).contains(&ms), "{ms}");
    }
    repo.persist("a").await.unwrap();
    assert_eq!(pttls(&mut conn).await, vec![-1; instance_keys.len()]);
    assert_eq!(repo.ttl("a").await.unwrap(), None);
    // A save sets the model's ttl again.
    repo.save(&p).await.unwrap();
    assert!(repo.ttl("a").await.unwrap().unwrap() > Duration::from_secs(86_000));

    // A model without a ttl refuses, naming why.
    let boards = rapyer_tests::fixtures::indexes::Board::repo(&t.client);
    boards
        .insert(&rapyer_tests::fixtures::indexes::Board::new("b"))
        .await
        .unwrap();
    let err = boards.expire("b", SHORT).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("ttl")),
        "{err}"
    );
}

rapyer_tests::on_both!(
    index_memory_returns_to_its_baseline_after_a_churn_of_expiries,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn index_memory_returns_to_its_baseline_after_a_churn_of_expiries(t: TestRedis) {
    const WAVES: usize = 10;
    const PER_WAVE: usize = 10_000;
    const TASKS: usize = 32;
    let repo = Ping::repo(&t.client);
    let memo = t.client.keys().memo(&Ping::META, 0);
    let mut conn = t.raw().await;
    let mut largest_memo = 0u64;
    let started = Instant::now();
    for wave in 0..WAVES {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let repo = repo.clone();
                tokio::spawn(async move {
                    for i in (task..PER_WAVE).step_by(TASKS) {
                        let mut p = Ping::new(format!("w{wave}-{i}"), format!("c{wave}-{i}"));
                        p.at = i as i64;
                        p.zone = REGIONS[i % 3];
                        p.level = (i % 7) as i64;
                        repo.insert(&p).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let held: u64 = conn.hlen(&memo).await.unwrap();
        largest_memo = largest_memo.max(held);
        // Waves come faster than instances expire (1 s), so several overlap.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!(
        "{} instances in {:?}; the memo held at most {largest_memo}",
        WAVES * PER_WAVE,
        started.elapsed()
    );
    // Steady churn: writes forget expired instances as they go, so the memo never holds
    // much more than the instances alive at once (about 4 waves at 300 ms apart, 1 s life).
    assert!(
        largest_memo <= (6 * PER_WAVE) as u64,
        "the memo grew with the churn: {largest_memo}"
    );
    // Once every instance has expired, the first query forgets the rest: every key of the model
    // is gone, so its memory is back to the empty baseline.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(repo.by_at().top(10).await.unwrap(), Vec::<String>::new());
    assert_eq!(repo.by_level(Region::Us).len().await.unwrap(), 0);
    assert_eq!(repo.by_code().pk("c9-1").await.unwrap(), None);
    assert_eq!(repo.count().await.unwrap(), 0);
    let left = t.keys().await;
    assert!(
        left.is_empty(),
        "keys left behind: {:?}",
        &left[..left.len().min(10)]
    );
}

/// The PTTL of every key of an instance (hash, containers, fence hash) and its registry score
/// minus the server's time, in ms.
async fn expiries(
    t: &TestRedis,
    hash: &str,
    containers: &[&str],
    registry: &str,
    pk: &str,
) -> Vec<i64> {
    let mut conn = t.raw().await;
    let mut out = Vec::new();
    let keys = std::iter::once(hash.to_string())
        .chain(containers.iter().map(|c| format!("{hash}:{c}")))
        .chain(std::iter::once(format!("{hash}:lock:")));
    for key in keys {
        out.push(conn.pttl::<_, i64>(&key).await.unwrap());
    }
    let score: f64 = conn.zscore(registry, pk).await.unwrap();
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    out.push(score as i64 - (secs * 1000 + micros / 1000));
    out
}

rapyer_tests::on_all!(sliding_expiry_re_arms_every_key_on_each_write);
async fn sliding_expiry_re_arms_every_key_on_each_write(t: TestRedis) {
    let repo = Pass::repo(&t.client);
    let mut p = Pass::new("a", "gold");
    p.perks.insert("x".into());
    repo.insert(&p).await.unwrap();
    repo.lock("a", "edit")
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    let hash = repo.key_of("a").unwrap();
    let registry = t.client.keys().registry(&Pass::META, 0);
    let day = 86_400_000;
    let re_armed = |all: Vec<i64>| all.iter().all(|ms| (day - 5_000..=day).contains(ms));
    let writes: Vec<(&str, rapyer::Op<()>)> = vec![
        ("a set add", repo.fields("a").perks().add("y").discard()),
        ("an indexed set", repo.fields("a").level().set(3)),
        ("a unique set", repo.fields("a").token().set("silver")),
    ];
    for (what, op) in writes {
        repo.expire("a", Duration::from_secs(10)).await.unwrap();
        assert!(!re_armed(
            expiries(&t, &hash, &["perks"], &registry, "a").await
        ));
        op.await.unwrap();
        let all = expiries(&t, &hash, &["perks"], &registry, "a").await;
        assert!(re_armed(all.clone()), "{what}: {all:?}");
    }
    // A pipeline and an update re-arm too; a read does not.
    repo.expire("a", Duration::from_secs(10)).await.unwrap();
    repo.fields("a").level().get().await.unwrap();
    assert!(repo.get("a").await.unwrap().is_some());
    assert!(repo.ttl("a").await.unwrap().unwrap() <= Duration::from_secs(10));
    let mut pipe = t.client.pipeline();
    pipe.add(repo.fields("a").level().incr(1));
    pipe.exec().await.unwrap();
    assert!(re_armed(
        expiries(&t, &hash, &["perks"], &registry, "a").await
    ));
    repo.expire("a", Duration::from_secs(10)).await.unwrap();
    repo.update("a", |p| {
        p.level += 1;
        Ok::<_, std::convert::Infallible>(())
    })
    .await
    .unwrap();
    assert!(re_armed(
        expiries(&t, &hash, &["perks"], &registry, "a").await
    ));
    // A persisted instance stays persisted through writes.
    repo.persist("a").await.unwrap();
    repo.fields("a").level().incr(1).await.unwrap();
    assert_eq!(repo.ttl("a").await.unwrap(), None);
}

rapyer_tests::on_all!(sliding_expiry_on_reads_re_arms_on_every_kind_of_read);
async fn sliding_expiry_on_reads_re_arms_on_every_kind_of_read(t: TestRedis) {
    let repo = Presence::repo(&t.client);
    let mut p = Presence::new("ann", "lobby");
    p.devices.push("phone".into());
    repo.insert(&p).await.unwrap();
    repo.lock("ann", "edit")
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    let hash = repo.key_of("ann").unwrap();
    let registry = t.client.keys().registry(&Presence::META, 0);
    let hour = 3_600_000;
    let re_armed = |all: Vec<i64>| all.iter().all(|ms| (hour - 5_000..=hour).contains(ms));
    repo.expire("ann", Duration::from_secs(10)).await.unwrap();
    assert_eq!(repo.get("ann").await.unwrap().as_ref(), Some(&p));
    assert!(re_armed(
        expiries(&t, &hash, &["devices"], &registry, "ann").await
    ));
    repo.expire("ann", Duration::from_secs(10)).await.unwrap();
    assert_eq!(repo.fields("ann").beats().get().await.unwrap(), 0);
    assert!(re_armed(
        expiries(&t, &hash, &["devices"], &registry, "ann").await
    ));
    repo.expire("ann", Duration::from_secs(10)).await.unwrap();
    let found = repo.by_room().find_instances("lobby", 0, 10).await.unwrap();
    assert_eq!(found, vec![p.clone()]);
    assert!(re_armed(
        expiries(&t, &hash, &["devices"], &registry, "ann").await
    ));
    // A missing instance is not created by a read; a persisted one stays persisted.
    assert_eq!(repo.get("bob").await.unwrap(), None);
    assert!(!repo.exists("bob").await.unwrap());
    repo.persist("ann").await.unwrap();
    repo.get("ann").await.unwrap();
    assert_eq!(repo.ttl("ann").await.unwrap(), None);
}

rapyer_tests::on_all!(expiry_operations_in_a_pipeline_are_all_or_nothing);
async fn expiry_operations_in_a_pipeline_are_all_or_nothing(t: TestRedis) {
    let repo = Pass::repo(&t.client);
    for id in ["a", "b"] {
        repo.insert(&Pass::new(id, format!("{id}-token")))
            .await
            .unwrap();
    }
    let day = Duration::from_secs(86_400);
    // A missing instance fails the whole pipeline: neither expiry changes.
    let mut pipe = t.client.pipeline();
    pipe.add(repo.expire("a", Duration::from_secs(100)));
    pipe.add(repo.persist("b"));
    pipe.add(repo.fields("missing").level().incr(1));
    let err = pipe.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref pk, .. } if pk == "missing"),
        "{err}"
    );
    for id in ["a", "b"] {
        assert!(repo.ttl(id).await.unwrap().unwrap() > day - Duration::from_secs(60));
    }
    // Applied together; a write in the same pipeline does not re-arm what the pipeline set.
    let mut pipe = t.client.pipeline();
    let set = pipe.add(repo.expire("a", Duration::from_secs(100)));
    pipe.add(repo.fields("a").level().incr(1));
    pipe.add(repo.persist("b"));
    let left = pipe.add(repo.ttl("b"));
    let mut results = pipe.exec().await.unwrap();
    results.take(set).unwrap();
    assert_eq!(results.take(left).unwrap(), None);
    let a_left = repo.ttl("a").await.unwrap().unwrap();
    assert!(a_left <= Duration::from_secs(100), "{a_left:?}");
    assert_eq!(repo.ttl("b").await.unwrap(), None);
    // The memo follows: b is persisted, so it has no entry; a has one.
    let memo = t.client.keys().memo(&Pass::META, 0);
    let mut conn = t.raw().await;
    let held: Vec<String> = conn.hkeys(&memo).await.unwrap();
    assert_eq!(held, vec!["a".to_string()]);
}

rapyer_tests::on_all!(an_expired_instance_leaves_its_partition_of_a_partitioned_index);
async fn an_expired_instance_leaves_its_partition_of_a_partitioned_index(t: TestRedis) {
    let repo = Presence::repo(&t.client);
    for (user, beats) in [("ann", 3), ("bob", 5), ("cy", 1)] {
        let mut p = Presence::new(user, "lobby");
        p.beats = beats;
        repo.insert(&p).await.unwrap();
    }
    // Moved to another partition by a field op (the memo follows), then expired.
    repo.fields("ann").room().set("hall").await.unwrap();
    assert_eq!(repo.by_beats("hall").top(5).await.unwrap(), ["ann"]);
    repo.expire("ann", Duration::from_millis(50)).await.unwrap();
    repo.expire("cy", Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(repo.by_beats("hall").top(5).await.unwrap().is_empty());
    assert_eq!(repo.by_beats("hall").len().await.unwrap(), 0);
    assert_eq!(repo.by_beats("lobby").top(5).await.unwrap(), ["bob"]);
    assert_eq!(repo.by_beats("lobby").rank("cy").await.unwrap(), None);
    assert_eq!(repo.by_beats("lobby").count(0, 10).await.unwrap(), 1);
    // Nothing of the expired instances is left in the index key.
    let key = t
        .client
        .keys()
        .index_key(&Presence::META, &Presence::META.indexes[1], 0);
    let members: u64 = t.raw().await.zcard(&key).await.unwrap();
    assert_eq!(members, 1);
}
