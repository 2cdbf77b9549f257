//! Indexes against a brute force: random sequences of every write path over a few hundred
//! instances, then every index query is compared with what a scan of all instances gives.

use std::collections::BTreeMap;

use rapyer::__private::IndexKind;
use rapyer::__private::Keyspace;
use rapyer::{Error, Model as _, Op, Pipeline};
use rapyer_tests::fixtures::indexes::{
    Board, Gamer, GamerRepo, Guild, Ladder, Membership, Pass, Ping, Presence, Region, Season,
    SeasonPatch,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rapyer_tests::harness::{RedisCluster, TestRedis};
use rapyer_tests::rng::Rng;
use redis::AsyncCommands;

const HANDLES: u64 = 240;
const REGIONS: [Region; 3] = [Region::Eu, Region::Us, Region::Asia];

fn handle(rng: &mut Rng) -> String {
    // Awkward pks too: braces, percent signs, spaces and unicode sort bytewise like the rest.
    match rng.below(HANDLES) {
        0 => "{odd}".into(),
        1 => "100%".into(),
        2 => "é space".into(),
        n => format!("h{n:03}"),
    }
}

fn email(rng: &mut Rng) -> String {
    format!("e{}@x", rng.below(600))
}

fn datetime(rng: &mut Rng) -> rapyer::DateTime {
    let secs = rng.int(-2_208_988_800, 4_102_444_800);
    let micros = rng.below(1_000_000) as u32;
    rapyer::chrono::DateTime::from_timestamp(secs, micros * 1000).unwrap()
}

fn token(rng: &mut Rng) -> Option<rapyer::Uuid> {
    rng.chance(50)
        .then(|| rapyer::Uuid::from_u128(rng.below(150) as u128 + 1))
}

fn random_gamer(rng: &mut Rng, handle: String) -> Gamer {
    let mut g = Gamer::new(handle, email(rng));
    g.badge = rng.chance(50).then(|| rng.int(0, 300));
    g.token = token(rng);
    g.score = rng.int(-5, 5);
    g.accuracy = rng.int(-8, 8) as f64 * 0.25;
    g.seen = rng.chance(70).then(|| datetime(rng));
    g.region = REGIONS[rng.below(3) as usize];
    g.vip = rng.chance(30);
    g.level = rng.int(1, 4);
    g.guild = rng.chance(60).then(|| format!("g{}", rng.below(4)));
    g.stats.wins = rng.int(0, 6);
    g.elo = rng.int(-6, 6);
    g
}

/// The instances as the test believes them to be.
type Model = BTreeMap<String, Gamer>;

/// The unique values `g` takes that another instance of `model` already holds.
fn unique_conflict(model: &Model, g: &Gamer) -> bool {
    model.values().any(|o| {
        o.handle != g.handle
            && (o.email == g.email
                || (g.badge.is_some() && o.badge == g.badge)
                || (g.token.is_some() && o.token == g.token))
    })
}

/// One random field operation on `g`, applied to the model copy and returned as an op.
fn random_field_op(rng: &mut Rng, repo: &GamerRepo, g: &mut Gamer) -> Op<()> {
    let f = repo.fields(&g.handle);
    match rng.below(13) {
        0 => {
            let d = rng.int(-3, 3);
            g.score += d;
            unit(f.score().incr(d))
        }
        12 => {
            // The partitioned index follows its field (and, in case 3, its partition).
            let d = rng.int(-3, 3);
            g.elo += d;
            unit(f.elo().incr(d))
        }
        1 => {
            let d = rng.int(-4, 4) as f64 * 0.25;
            g.accuracy += d;
            unit(f.accuracy().incr(d))
        }
        2 => {
            g.seen = rng.chance(70).then(|| datetime(rng));
            match g.seen {
                Some(t) => f.seen().set(t),
                None => unit(f.seen().clear()),
            }
        }
        3 => {
            g.region = REGIONS[rng.below(3) as usize];
            f.region().set(g.region)
        }
        4 => {
            g.vip = !g.vip;
            f.vip().set(g.vip)
        }
        5 => {
            let d = rng.int(-1, 1);
            g.level += d;
            unit(f.level().incr(d))
        }
        6 => {
            g.guild = rng.chance(60).then(|| format!("g{}", rng.below(4)));
            match &g.guild {
                Some(v) => f.guild().set(v.clone()),
                None => unit(f.guild().clear()),
            }
        }
        7 => {
            let d = rng.int(-2, 3);
            g.stats.wins += d;
            unit(f.stats().wins().incr(d))
        }
        8 | 9 => {
            g.email = email(rng);
            f.email().set(g.email.clone())
        }
        10 => {
            g.badge = rng.chance(60).then(|| rng.int(0, 300));
            match g.badge {
                Some(b) => f.badge().set(b),
                None => unit(f.badge().clear()),
            }
        }
        _ => {
            g.token = token(rng);
            match g.token {
                Some(t) => f.token().set(t),
                None => unit(f.token().clear()),
            }
        }
    }
}

/// An op whose result the test does not need.
fn unit<T: Send + 'static>(op: Op<T>) -> Op<()> {
    op.discard()
}

/// How often each interesting outcome happened, so the test can show it exercised them.
#[derive(Default, Debug)]
struct Seen {
    violations: u32,
    pipelines_applied: u32,
    pipelines_refused: u32,
    not_found: u32,
    deletes: u32,
}

async fn step(rng: &mut Rng, t: &TestRedis, repo: &GamerRepo, model: &mut Model, seen: &mut Seen) {
    match rng.below(10) {
        // insert
        0 | 1 => {
            let h = handle(rng);
            let g = random_gamer(rng, h);
            let result = repo.insert(&g).await;
            if model.contains_key(&g.handle) {
                assert!(
                    matches!(result, Err(Error::AlreadyExists { .. })),
                    "{result:?}"
                );
            } else if unique_conflict(model, &g) {
                assert!(
                    matches!(result, Err(Error::UniqueViolation { .. })),
                    "{result:?}"
                );
                seen.violations += 1;
            } else {
                result.unwrap();
                model.insert(g.handle.clone(), g);
            }
        }
        // save: replace an existing instance (or create one)
        2 => {
            let h = handle(rng);
            let g = random_gamer(rng, h);
            let result = repo.save(&g).await;
            if unique_conflict(model, &g) {
                assert!(
                    matches!(result, Err(Error::UniqueViolation { .. })),
                    "{result:?}"
                );
                seen.violations += 1;
            } else {
                result.unwrap();
                model.insert(g.handle.clone(), g);
            }
        }
        // delete
        3 => {
            let h = handle(rng);
            let existed = repo.delete(&h).await.unwrap();
            assert_eq!(existed, model.remove(&h).is_some());
            seen.deletes += u32::from(existed);
        }
        // one field operation
        4..=7 => {
            let h = handle(rng);
            let Some(current) = model.get(&h) else {
                let result = repo.fields(&h).score().incr(1).await;
                assert!(matches!(result, Err(Error::NotFound { .. })), "{result:?}");
                seen.not_found += 1;
                return;
            };
            let mut g = current.clone();
            let op = random_field_op(rng, repo, &mut g);
            let result = op.await;
            if unique_conflict(model, &g) {
                assert!(
                    matches!(result, Err(Error::UniqueViolation { .. })),
                    "{result:?}"
                );
                seen.violations += 1;
            } else {
                result.unwrap();
                model.insert(h, g);
            }
        }
        // a pipeline over a few instances
        _ => {
            let mut p: Pipeline = t.client.pipeline();
            let mut next = model.clone();
            let mut conflict = false;
            // On a cluster a pipeline is one slot: instances of one bucket, each once (a
            // unique field may change once per pipeline there).
            let mut bucket = None;
            let mut used = std::collections::HashSet::new();
            for _ in 0..rng.int(2, 6) {
                let mut h = handle(rng);
                if t.is_cluster() {
                    let wanted =
                        *bucket.get_or_insert_with(|| Keyspace::bucket_of(&Gamer::META, &h));
                    while Keyspace::bucket_of(&Gamer::META, &h) != wanted {
                        h = handle(rng);
                    }
                    if !used.insert(h.clone()) {
                        continue;
                    }
                }
                let Some(current) = next.get(&h) else {
                    continue;
                };
                let mut g = current.clone();
                p.add(random_field_op(rng, repo, &mut g));
                conflict |= unique_conflict(&next, &g);
                next.insert(h, g);
            }
            let result = p.exec().await;
            if conflict {
                assert!(
                    matches!(result, Err(Error::UniqueViolation { .. })),
                    "{result:?}"
                );
                seen.violations += 1;
                seen.pipelines_refused += 1;
            } else {
                result.unwrap();
                *model = next;
                seen.pipelines_applied += 1;
            }
        }
    }
}

/// The pks a sorted index should list, highest first: by value, then by pk, both descending.
fn descending<T, V: PartialOrd + Copy>(
    model: &BTreeMap<String, T>,
    value: impl Fn(&T) -> Option<V>,
) -> Vec<String> {
    let mut entries: Vec<(V, &String)> = model
        .iter()
        .filter_map(|(pk, g)| value(g).map(|v| (v, pk)))
        .collect();
    entries.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(b.1.cmp(a.1)));
    entries.into_iter().map(|(_, h)| h.clone()).collect()
}

async fn check_sorted<T, V>(
    name: &str,
    index: rapyer::SortedIndex<T, V>,
    model: &BTreeMap<String, T>,
    value: impl Fn(&T) -> Option<V>,
) where
    T: rapyer::Model<Pk = String> + PartialEq + std::fmt::Debug,
    V: rapyer::Score + PartialOrd + Copy,
{
    let top = descending(model, &value);
    let mut bottom = top.clone();
    bottom.reverse();
    assert_eq!(index.len().await.unwrap(), top.len() as u64, "{name}: size");
    for n in [0, 1, 7, top.len() + 3] {
        assert_eq!(
            index.top(n).await.unwrap(),
            top[..n.min(top.len())],
            "{name}: top {n}"
        );
        assert_eq!(
            index.bottom(n).await.unwrap(),
            bottom[..n.min(bottom.len())],
            "{name}: bottom {n}"
        );
    }
    let from_instances: Vec<String> = index
        .top_instances(5)
        .await
        .unwrap()
        .into_iter()
        .map(|g| {
            let pk = rapyer::PkRef::pk_text(g.pk()).into_owned();
            assert_eq!(Some(&g), model.get(&pk), "{name}: instance");
            pk
        })
        .collect();
    assert_eq!(
        from_instances,
        top[..5.min(top.len())],
        "{name}: top instances"
    );
    for (rank, h) in top.iter().enumerate() {
        assert_eq!(
            index.rank(h).await.unwrap(),
            Some(rank as u64),
            "{name}: rank of {h}"
        );
        let around = &top[rank.saturating_sub(2)..(rank + 3).min(top.len())];
        assert_eq!(
            index.around(h, 2).await.unwrap(),
            around,
            "{name}: around {h}"
        );
    }
    assert_eq!(index.rank("nobody").await.unwrap(), None);
    assert!(index.around("nobody", 2).await.unwrap().is_empty());
    // Value ranges, ascending, paged.
    let values: Vec<V> = model.values().filter_map(&value).collect();
    for (lo, hi) in values.iter().zip(values.iter().rev()).take(4) {
        let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
        let inside: Vec<String> = bottom
            .iter()
            .filter(|h| value(&model[*h]).is_some_and(|v| v >= lo && v <= hi))
            .cloned()
            .collect();
        assert_eq!(
            index.count(lo, hi).await.unwrap(),
            inside.len() as u64,
            "{name}: count"
        );
        assert_eq!(
            index.range(lo, hi, 0, 1000).await.unwrap(),
            inside,
            "{name}: range"
        );
        let page = &inside[1.min(inside.len())..3.min(inside.len())];
        assert_eq!(
            index.range(lo, hi, 1, 2).await.unwrap(),
            page,
            "{name}: page"
        );
        // Keyset pages of 3 walk the same range.
        let (mut walked, mut after) = (Vec::new(), None);
        loop {
            let page = index.range_page(lo, hi, after.as_ref(), 3).await.unwrap();
            walked.extend(page.items.iter().cloned());
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(walked, inside, "{name}: keyset pages");
    }
}

async fn check_unique<V>(
    name: &str,
    index: rapyer::UniqueIndex<Gamer, V>,
    index_key: String,
    t: &TestRedis,
    model: &Model,
    value: impl Fn(&Gamer) -> Option<V>,
) where
    V: rapyer::Codec + Clone,
{
    let mut held = 0u64;
    for g in model.values() {
        if let Some(v) = value(g) {
            held += 1;
            assert_eq!(
                index.pk(v.clone()).await.unwrap().as_ref(),
                Some(&g.handle),
                "{name}"
            );
            assert_eq!(index.get(v).await.unwrap().as_ref(), Some(g), "{name}: get");
        }
    }
    let entries: u64 = t.raw().await.hlen(&index_key).await.unwrap();
    assert_eq!(entries, held, "{name}: stray entries in {index_key}");
}

async fn check_lookup<V>(
    name: &str,
    index: rapyer::LookupIndex<Gamer, V>,
    model: &Model,
    candidates: &[V],
    value: impl Fn(&Gamer) -> Option<V>,
) where
    V: rapyer::Codec + Clone + PartialEq + std::fmt::Debug,
{
    let mut total = 0;
    for v in candidates {
        let expected: Vec<String> = model
            .values()
            .filter(|g| value(g).as_ref() == Some(v))
            .map(|g| g.handle.clone())
            .collect();
        total += expected.len();
        assert_eq!(
            index.find(v.clone(), 0, 10_000).await.unwrap(),
            expected,
            "{name} = {v:?}"
        );
        let page = &expected[2.min(expected.len())..5.min(expected.len())];
        assert_eq!(
            index.find(v.clone(), 2, 3).await.unwrap(),
            page,
            "{name} = {v:?}: page"
        );
        assert_eq!(index.count(v.clone()).await.unwrap(), expected.len() as u64);
        let instances = index.find_instances(v.clone(), 0, 3).await.unwrap();
        let first: Vec<&Gamer> = expected.iter().take(3).map(|h| &model[h]).collect();
        assert_eq!(
            instances.iter().collect::<Vec<_>>(),
            first,
            "{name}: instances"
        );
    }
    let with_value = model.values().filter(|g| value(g).is_some()).count();
    assert_eq!(total, with_value, "{name}: candidates miss a value");
}

async fn check_all(t: &TestRedis, repo: &GamerRepo, model: &Model) {
    let stored = repo
        .get_many(model.keys().map(String::as_str))
        .await
        .unwrap();
    for (g, s) in model.values().zip(stored) {
        assert_eq!(s.as_ref(), Some(g));
    }
    assert_eq!(repo.count().await.unwrap(), model.len() as u64);
    check_sorted("score", repo.by_score(), model, |g| Some(g.score)).await;
    check_sorted("accuracy", repo.by_accuracy(), model, |g| Some(g.accuracy)).await;
    check_sorted("seen", repo.by_seen(), model, |g| g.seen).await;
    check_sorted("stats.wins", repo.by_stats_wins(), model, |g| {
        Some(g.stats.wins)
    })
    .await;
    // The partitioned index: every query within each region equals the brute force over that
    // region's instances.
    for region in REGIONS {
        let in_region: Model = model
            .iter()
            .filter(|(_, g)| g.region == region)
            .map(|(h, g)| (h.clone(), g.clone()))
            .collect();
        let name = format!("elo in {region:?}");
        check_sorted(&name, repo.by_elo(region), &in_region, |g| Some(g.elo)).await;
    }
    let key = |path| {
        t.client
            .keys()
            .index(&Gamer::META, IndexKind::Unique, path, 0)
    };
    check_unique("email", repo.by_email(), key("email"), t, model, |g| {
        Some(g.email.clone())
    })
    .await;
    check_unique("badge", repo.by_badge(), key("badge"), t, model, |g| {
        g.badge
    })
    .await;
    check_unique("token", repo.by_token(), key("token"), t, model, |g| {
        g.token
    })
    .await;
    check_lookup("region", repo.by_region(), model, &REGIONS, |g| {
        Some(g.region)
    })
    .await;
    check_lookup("vip", repo.by_vip(), model, &[true, false], |g| Some(g.vip)).await;
    let levels: Vec<i64> = (-40..=60).collect();
    check_lookup("level", repo.by_level(), model, &levels, |g| Some(g.level)).await;
    let guilds: Vec<String> = (0..4).map(|i| format!("g{i}")).collect();
    check_lookup("guild", repo.by_guild(), model, &guilds, |g| {
        g.guild.clone()
    })
    .await;
}

rapyer_tests::on_all!(every_write_path_keeps_every_index_equal_to_a_brute_force);
async fn every_write_path_keeps_every_index_equal_to_a_brute_force(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    let mut model = Model::new();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut seen = Seen::default();
    for round in 0..4 {
        for _ in 0..600 {
            step(&mut rng, &t, &repo, &mut model, &mut seen).await;
        }
        assert!(
            model.len() > 60,
            "round {round}: too few instances to mean much ({})",
            model.len()
        );
        check_all(&t, &repo, &model).await;
    }
    assert!(
        seen.violations >= 20
            && seen.pipelines_applied >= 50
            && seen.pipelines_refused >= 5
            && seen.not_found >= 20
            && seen.deletes >= 20,
        "some write paths were barely exercised: {seen:?}"
    );
    eprintln!("{} instances at the end; {seen:?}", model.len());
}

/// The same model-based test on a private 3-master cluster, while every slot of the model (its
/// 8 buckets and its unique indexes) moves between masters key by key, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_index_stays_equal_to_a_brute_force_while_slots_move() {
    let cluster = RedisCluster::start(3, 0);
    let t = TestRedis::on_cluster(cluster.urls(), rapyer::Client::cluster_builder).await;
    let keys = t.client.keys();
    let mut slots: Vec<u16> = (0..Gamer::META.buckets)
        .map(|b| cluster.slot_of(&keys.registry(&Gamer::META, b)))
        .chain(
            ["email", "badge", "token"]
                .map(|path| cluster.slot_of(&keys.index(&Gamer::META, IndexKind::Unique, path, 0))),
        )
        .collect();
    slots.sort_unstable();
    slots.dedup();
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut moved = 0;
            'rounds: while !stop.load(Ordering::Relaxed) {
                for &slot in &slots {
                    let to = (cluster.owner_of_slot(slot) + 1) % cluster.masters;
                    let mut step = cluster.begin_move(slot, to);
                    while step.move_keys(1) > 0 {
                        moved += 1;
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    step.finish();
                    if stop.load(Ordering::Relaxed) {
                        break 'rounds;
                    }
                }
            }
            (cluster, moved)
        })
    };
    let repo = Gamer::repo(&t.client);
    let mut model = Model::new();
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let mut seen = Seen::default();
    for _ in 0..3 {
        for _ in 0..500 {
            step(&mut rng, &t, &repo, &mut model, &mut seen).await;
        }
        check_all(&t, &repo, &model).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (_cluster, moved) = tokio::task::spawn_blocking(move || mover.join().unwrap())
        .await
        .unwrap();
    check_all(&t, &repo, &model).await;
    assert!(moved > 100, "too few keys moved during the run: {moved}");
    eprintln!(
        "{moved} key moves; {} instances at the end; {seen:?}",
        model.len()
    );
}

/// After a master dies and its replica takes over (losing what it had not replicated), `reindex`
/// leaves every index equal to a brute force over the instances that survived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_after_a_failover_leaves_every_index_equal_to_a_brute_force() {
    let mut cluster = RedisCluster::start(3, 1);
    let t = TestRedis::on_cluster(cluster.urls(), rapyer::Client::cluster_builder).await;
    let repo = Gamer::repo(&t.client);
    let mut model = Model::new();
    let mut rng = Rng(0x5eed_1234_abcd_0003);
    let mut seen = Seen::default();
    for _ in 0..1_000 {
        step(&mut rng, &t, &repo, &mut model, &mut seen).await;
    }
    // Kill a master right after the writes, while its replica may still be catching up.
    cluster.kill(0);
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_healthy();
        cluster
    })
    .await
    .unwrap();
    let report = repo.reindex().await.unwrap();
    assert!(report.conflicts.is_empty(), "{report:?}");
    // The truth is what survived: every instance Redis still has.
    let pks = repo.all().await.unwrap();
    let survivors: Model = repo
        .get_many(pks.iter().map(String::as_str))
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .map(|g| (g.handle.clone(), g))
        .collect();
    assert_eq!(survivors.len(), pks.len());
    assert!(survivors.len() > 60, "{} instances", survivors.len());
    check_all(&t, &repo, &survivors).await;
    eprintln!(
        "{} instances before the kill, {} after; {report:?}",
        model.len(),
        survivors.len()
    );
}

rapyer_tests::on_both!(racing_inserts_of_one_unique_value_have_exactly_one_winner);
async fn racing_inserts_of_one_unique_value_have_exactly_one_winner(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move { repo.insert(&Gamer::new(format!("p{i}"), "taken@x")).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => winners.push(format!("p{i}")),
            Err(Error::UniqueViolation {
                field,
                value,
                holder,
                ..
            }) => {
                assert_eq!((field.as_str(), value.as_str()), ("email", "taken@x"));
                assert!(holder.starts_with('p'));
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = repo.get_by_email("taken@x").await.unwrap().unwrap();
    assert_eq!(winner.handle, winners[0]);
    assert_eq!(repo.count().await.unwrap(), 1);

    // Racing field sets of one value on 32 existing instances: one wins, nothing else changes.
    for i in 0..32 {
        repo.insert(&Gamer::new(format!("q{i}"), format!("q{i}@x")))
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move { repo.fields(&format!("q{i}")).email().set("wanted@x").await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(Error::UniqueViolation { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won, 1);
    let holder = repo.get_by_email("wanted@x").await.unwrap().unwrap();
    for i in 0..32 {
        let h = format!("q{i}");
        let email = repo.fields(&h).email().get().await.unwrap();
        if h == holder.handle {
            assert_eq!(email, "wanted@x");
            // Its old value was freed.
            assert_eq!(repo.by_email().pk(format!("{h}@x")).await.unwrap(), None);
        } else {
            assert_eq!(email, format!("{h}@x"));
            assert_eq!(
                repo.get_by_email(format!("{h}@x"))
                    .await
                    .unwrap()
                    .unwrap()
                    .handle,
                h
            );
        }
    }
}

rapyer_tests::on_all!(unique_values_are_freed_by_changes_and_deletes);
async fn unique_values_are_freed_by_changes_and_deletes(t: TestRedis) {
    let guilds = Guild::repo(&t.client);
    let a = Guild::new("A", Region::Eu);
    guilds.insert(&a).await.unwrap();
    let b = Guild::new("B", Region::Eu);
    let err = guilds.insert(&b).await.unwrap_err();
    assert!(
        matches!(err, Error::UniqueViolation { ref field, ref value, .. } if field == "home" && value == "eu"),
        "{err}"
    );
    assert!(
        !guilds.exists(&b.id).await.unwrap(),
        "a refused insert writes nothing"
    );
    guilds.fields(&a.id).home().set(Region::Us).await.unwrap();
    guilds.insert(&b).await.unwrap();
    assert_eq!(
        guilds.get_by_home(Region::Eu).await.unwrap().unwrap().id,
        b.id
    );
    assert_eq!(
        guilds.get_by_home(Region::Us).await.unwrap().unwrap().id,
        a.id
    );
    guilds.delete(&a.id).await.unwrap();
    assert_eq!(guilds.get_by_home(Region::Us).await.unwrap(), None);
    assert_eq!(guilds.get_by_name("A").await.unwrap(), None);
    guilds.insert(&Guild::new("A", Region::Us)).await.unwrap();
}

rapyer_tests::on_all!(junk_and_overflow_on_an_indexed_field_are_typed_and_leave_the_index_alone);
async fn junk_and_overflow_on_an_indexed_field_are_typed_and_leave_the_index_alone(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    let g = Gamer::new("j", "j@x");
    repo.insert(&g).await.unwrap();
    let key = repo.key_of("j").unwrap();
    let mut raw = t.raw().await;
    // An indexed field takes the general layout even alone; the script says what is wrong.
    let _: () = raw.hset(&key, "score", "12abc").await.unwrap();
    let err = repo.fields("j").score().incr(1).await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { key: ref k, ref field, ref reason } if *k == key && field == "score" && reason.contains("64-bit integer")),
        "{err}"
    );
    let _: () = raw.hset(&key, "score", i64::MAX).await.unwrap();
    let err = repo.fields("j").score().incr(1).await.unwrap_err();
    assert!(
        matches!(err, Error::Overflow { ref field, .. } if field == "score"),
        "{err}"
    );
    let stored: String = raw.hget(&key, "score").await.unwrap();
    assert_eq!(stored, i64::MAX.to_string(), "nothing was written");
    // The index entry still holds the value of the last successful write.
    assert_eq!(repo.by_score().top(1).await.unwrap(), vec!["j".to_string()]);
    assert_eq!(repo.by_score().count(0, 0).await.unwrap(), 1);
}

rapyer_tests::on_all!(reindex_repairs_every_kind_of_damage);
async fn reindex_repairs_every_kind_of_damage(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    let mut model = Model::new();
    let mut rng = Rng(0xfeed_0000_0000_0042);
    let mut seen = Seen::default();
    for _ in 0..400 {
        step(&mut rng, &t, &repo, &mut model, &mut seen).await;
    }
    let keys = t.client.keys();
    let index = |kind, path| keys.index(&Gamer::META, kind, path, 0);
    let mut raw = t.raw().await;
    // A lost index (every bucket's key), ghost entries, and fields changed behind rapyer's back.
    for bucket in 0..Gamer::META.buckets {
        let _: () = raw
            .del(keys.index(&Gamer::META, IndexKind::SortedInt, "score", bucket))
            .await
            .unwrap();
    }
    let _: () = raw
        .zadd(index(IndexKind::SortedInt, "stats.wins"), "ghost", 99)
        .await
        .unwrap();
    let _: () = raw
        .hset(index(IndexKind::Unique, "email"), "ghost@x", "ghost")
        .await
        .unwrap();
    let _: () = raw
        .zadd(index(IndexKind::Lookup, "region"), "2:eughost", 0)
        .await
        .unwrap();
    let (a, b) = {
        let mut handles = model.keys();
        (
            handles.next().unwrap().clone(),
            handles.next().unwrap().clone(),
        )
    };
    // The partitioned index: one bucket's key lost, junk members, and a member of a real
    // instance in the wrong partition.
    let elo = Gamer::META
        .indexes
        .iter()
        .find(|ix| ix.path == "elo")
        .unwrap();
    let _: () = raw.del(keys.index_key(&Gamer::META, elo, 0)).await.unwrap();
    let elo_a = keys.index_key(&Gamer::META, elo, Keyspace::bucket_of(&Gamer::META, &a));
    let misplaced = [
        b"2:us".as_slice(),
        &[0x80, 0, 0, 0, 0, 0, 0, 0],
        a.as_bytes(),
    ]
    .concat();
    let _: () = raw.zadd(&elo_a, misplaced, 0).await.unwrap();
    let _: () = raw.zadd(&elo_a, "junk", 0).await.unwrap();
    let key_a = repo.key_of(&a).unwrap();
    let _: () = raw.hset(&key_a, "level", 55).await.unwrap();
    let _: () = raw.hset(&key_a, "region", "asia").await.unwrap();
    let _: () = raw.hdel(&key_a, "guild").await.unwrap();
    let g = model.get_mut(&a).unwrap();
    (g.level, g.region, g.guild) = (55, Region::Asia, None);

    let report = repo.reindex().await.unwrap();
    assert_eq!(report.instances, model.len() as u64);
    assert!(report.removed >= 6, "{report:?}");
    assert!(report.conflicts.is_empty(), "{report:?}");
    check_all(&t, &repo, &model).await;

    // Two instances with one unique value (written by other code): reported, first holder kept.
    let email_b = model[&b].email.clone();
    let _: () = raw.hset(&key_a, "email", &email_b).await.unwrap();
    let report = repo.reindex().await.unwrap();
    assert_eq!(report.conflicts.len(), 1, "{report:?}");
    let c = &report.conflicts[0];
    assert_eq!(
        (c.field.as_str(), c.value.as_str()),
        ("email", email_b.as_str())
    );
    assert!(
        (c.holder == b && c.other == a) || (c.holder == a && c.other == b),
        "{c:?}"
    );
    // Reindexing again changes nothing.
    let again = repo.reindex().await.unwrap();
    assert_eq!(again.removed, 0, "{again:?}");
}

#[test]
fn the_cli_describes_models_as_the_generated_code_does() {
    use rapyer::Model;
    use rapyer_tests::review_cases::renames;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = [
        (
            "fixtures/indexes/schema",
            vec![
                Gamer::META,
                Guild::META,
                Board::META,
                Pass::META,
                Ping::META,
                Presence::META,
                Membership::META,
                Ladder::META,
                Season::META,
            ],
        ),
        ("review/renames/new", vec![renames::new::Player::META]),
    ];
    for (dir, generated) in cases {
        let (schema, _) = rapyer_codegen::check::check_dir(&root.join(dir)).unwrap();
        assert_eq!(schema.models.len(), generated.len());
        for generated in generated {
            let model = schema
                .models
                .iter()
                .find(|m| m.name == generated.name)
                .unwrap();
            // Every fact, renames included (reindex reads instances written before a rename).
            assert_eq!(
                rapyer_codegen::runtime_meta::model_meta(&schema, model),
                generated
            );
        }
    }
    assert!(!renames::new::Player::META.renames.is_empty());
}

rapyer_tests::on_both!(rapyer_gen_reindex_repairs_a_lost_index);
async fn rapyer_gen_reindex_repairs_a_lost_index(t: TestRedis) {
    let repo = Gamer::repo(&t.client);
    for i in 0..30 {
        let mut g = Gamer::new(format!("c{i:02}"), format!("c{i}@x"));
        g.score = i;
        repo.insert(&g).await.unwrap();
    }
    let mut raw = t.raw().await;
    for bucket in 0..Gamer::META.buckets {
        let score_key = t
            .client
            .keys()
            .index(&Gamer::META, IndexKind::SortedInt, "score", bucket);
        let _: () = raw.del(&score_key).await.unwrap();
    }
    assert!(repo.by_score().top(3).await.unwrap().is_empty());

    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/indexes/schema");
    let mut cmd = rapyer_tests::workspace_bin("rapyer-gen", "rapyer-gen");
    cmd.arg("reindex").arg(&schema).args(["--model", "Gamer"]);
    if t.is_cluster() {
        cmd.args(["--cluster", &t.cluster_urls.join(",")]);
    } else {
        cmd.args(["--url", &t.url]);
    }
    if let Some(ns) = &t.namespace {
        cmd.args(["--namespace", ns]);
    }
    let out = cmd.output().expect("cargo run rapyer-gen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Gamer: 30 instances"), "{stdout}");
    assert_eq!(repo.by_score().top(3).await.unwrap(), ["c29", "c28", "c27"]);

    // A model the schema does not have is an error.
    let out = rapyer_tests::workspace_bin("rapyer-gen", "rapyer-gen")
        .arg("reindex")
        .arg(&schema)
        .args(["--url", &t.url, "--model", "Nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model `Nope`"));
}

rapyer_tests::on_all!(datetime_scores_agree_with_rust_and_keep_order_over_the_whole_range);
async fn datetime_scores_agree_with_rust_and_keep_order_over_the_whole_range(t: TestRedis) {
    use rapyer::Score;
    let repo = Gamer::repo(&t.client);
    let (min, max) = (rapyer::DateTime::MIN_UTC, rapyer::DateTime::MAX_UTC);
    let mut rng = Rng(0xda7e);
    // The extremes, the exact range's edges, and pairs one microsecond apart far out (which may
    // tie, but never reverse).
    let mut seen = vec![min, max, rapyer::DateTime::UNIX_EPOCH];
    for secs in [-9_007_199_255, -9_007_199_254, 9_007_199_254, 9_007_199_255] {
        seen.push(rapyer::chrono::DateTime::from_timestamp(secs, 999_999_000).unwrap());
    }
    for _ in 0..40 {
        let secs = rng.int(min.timestamp(), max.timestamp());
        let at = rapyer::chrono::DateTime::from_timestamp(secs, rng.below(1_000_000) as u32 * 1000)
            .unwrap()
            .min(max - rapyer::chrono::Duration::microseconds(1));
        seen.push(at);
        seen.push(at + rapyer::chrono::Duration::microseconds(1));
    }
    for (i, at) in seen.iter().enumerate() {
        let mut g = Gamer::new(format!("h{i:03}"), format!("{i}@x"));
        g.seen = Some(*at);
        repo.insert(&g).await.unwrap();
    }
    // The script's score equals Rust's: a range from a value to itself finds its instance.
    for (i, at) in seen.iter().enumerate() {
        let found = repo.by_seen().range(*at, *at, 0, 100).await.unwrap();
        assert!(
            found.contains(&format!("h{i:03}")),
            "{at} (score {})",
            at.score()
        );
    }
    // Ascending order never puts a later datetime before an earlier one.
    let all = repo.by_seen().range(min, max, 0, 1000).await.unwrap();
    assert_eq!(all.len(), seen.len());
    let at_of = |pk: &String| seen[pk[1..].parse::<usize>().unwrap()];
    for pair in all.windows(2) {
        let (a, b) = (at_of(&pair[0]), at_of(&pair[1]));
        assert!(a <= b || a.score() == b.score(), "{a} listed before {b}");
    }
}

/// Partition values that test the member layout: empty, with the key syntax's `:` and `{}`, a
/// prefix of another, multi-byte UTF-8.
const LEAGUES: [&str; 6] = ["", "eu:west", "{tag}", "a", "ab", "ünï"];

/// Scores at the edges of the encoding: signs, zeros of both signs, the smallest and largest
/// magnitudes.
const POINTS: [f64; 10] = [
    0.0,
    -0.0,
    1e-300,
    -1e-300,
    1.5,
    -1.5,
    1e300,
    -1e300,
    f64::MAX,
    f64::MIN,
];

fn random_season(rng: &mut Rng, id: String) -> Season {
    let joined = rapyer_tests::samples::at(rng.int(-5_000_000_000, 5_000_000_000), 0);
    let mut s = Season::new(id, LEAGUES[rng.below(6) as usize], joined);
    s.points = POINTS[rng.below(10) as usize];
    s.best = rng.chance(70).then(|| rng.int(-3, 3));
    s
}

rapyer_tests::on_all!(partitioned_indexes_of_every_value_kind_answer_like_a_brute_force);
async fn partitioned_indexes_of_every_value_kind_answer_like_a_brute_force(t: TestRedis) {
    let repo = Season::repo(&t.client);
    let mut model: BTreeMap<String, Season> = BTreeMap::new();
    let mut rng = Rng(0x9a27_1110_0000_0007);
    for step in 0..700 {
        let id = format!("s{}", rng.below(150));
        match rng.below(5) {
            // A whole write: the entries of all three indexes move together.
            0 | 1 => {
                let s = random_season(&mut rng, id.clone());
                repo.save(&s).await.unwrap();
                model.insert(id, s);
            }
            // The partition changes: every index's entry moves to the new partition.
            2 if model.contains_key(&id) => {
                let league = LEAGUES[rng.below(6) as usize];
                repo.fields(&id).league().set(league).await.unwrap();
                model.get_mut(&id).unwrap().league = league.to_string();
            }
            // A patch of a value and maybe the partition, in one step.
            3 if model.contains_key(&id) => {
                let s = model.get_mut(&id).unwrap();
                s.points = POINTS[rng.below(10) as usize];
                s.best = rng.chance(50).then(|| rng.int(-3, 3));
                let league = rng
                    .chance(50)
                    .then(|| LEAGUES[rng.below(6) as usize].to_string());
                if let Some(l) = &league {
                    s.league = l.clone();
                }
                let patch = SeasonPatch {
                    points: Some(s.points),
                    best: Some(s.best),
                    league,
                    ..Default::default()
                };
                repo.patch(&id, &patch).await.unwrap();
            }
            4 if step % 3 == 0 => {
                assert_eq!(repo.delete(&id).await.unwrap(), model.remove(&id).is_some());
            }
            _ => {}
        }
    }
    assert!(model.len() > 60, "too few instances: {}", model.len());
    for league in LEAGUES {
        let in_league: BTreeMap<String, Season> = model
            .iter()
            .filter(|(_, s)| s.league == league)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        check_sorted(
            &format!("points in {league:?}"),
            repo.by_points(league),
            &in_league,
            |s| Some(s.points),
        )
        .await;
        check_sorted(
            &format!("joined in {league:?}"),
            repo.by_joined(league),
            &in_league,
            |s| Some(s.joined),
        )
        .await;
        check_sorted(
            &format!("best in {league:?}"),
            repo.by_best(league),
            &in_league,
            |s| s.best,
        )
        .await;
    }
    // A partition nobody is in is empty, and an unknown pk has no rank in any.
    assert_eq!(repo.by_points("nowhere").len().await.unwrap(), 0);
    assert!(repo.by_points("nowhere").top(5).await.unwrap().is_empty());
    let anyone = model.keys().next().unwrap();
    let theirs = &model[anyone].league;
    let other = LEAGUES.iter().find(|l| *l != theirs).unwrap();
    assert_eq!(repo.by_points(*other).rank(anyone).await.unwrap(), None);
    assert!(
        repo.by_points(theirs.as_str())
            .rank(anyone)
            .await
            .unwrap()
            .is_some()
    );
}
