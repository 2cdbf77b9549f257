//! Out of memory: a server with `maxmemory` under `noeviction`, filled by pipelines, `update`s and
//! inserts from several tasks until every kind of write has been refused many times. Every write
//! either applied whole or failed with `Error::OutOfMemory` (nothing applied), checked instance
//! by instance and index by index; reads keep working.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use rapyer::{Client, Error, Uuid};
use rapyer_example::generated::{Player, PlayerRepo, PlayerStats};
use rapyer_tests::harness::{RedisServer, Transport};

const PLAYERS: usize = 20;
const TASKS: usize = 4;
/// A task stops after this many refusals of each kind.
const REFUSALS: usize = 15;
/// Bytes of padding per write, so that memory runs out quickly.
const PAD: usize = 400;

/// What each task saw.
#[derive(Default)]
struct Log {
    /// (player index, metadata key, applied).
    pipelines: Vec<(usize, String, bool)>,
    /// (player index, metadata key, applied).
    updates: Vec<(usize, String, bool)>,
    /// (player, applied).
    inserts: Vec<(Player, bool)>,
}

/// Ok → applied; OutOfMemory → refused; anything else fails the test.
fn applied<T>(result: rapyer::Result<T>) -> bool {
    match result {
        Ok(_) => true,
        Err(Error::OutOfMemory { .. }) => false,
        Err(other) => panic!("expected success or OutOfMemory, got {other:?}"),
    }
}

async fn fill(client: Client, players: PlayerRepo, ids: Vec<Uuid>, task: usize) -> Log {
    let mut log = Log::default();
    let pad = "x".repeat(PAD);
    let mut refused = [0usize; 3];
    let mut n = 0;
    while refused.iter().any(|r| *r < REFUSALS) && n < 50_000 {
        n += 1;
        let k = (task * 7 + n) % PLAYERS;
        let kind = n % 3;
        let ok = match kind {
            0 => {
                let key = format!("p{task}-{n}");
                let fields = players.fields(&ids[k]);
                let mut p = client.pipeline();
                p.add(fields.metadata().insert(key.clone(), pad.clone()));
                p.add(fields.score().incr(1));
                let ok = applied(p.exec().await);
                log.pipelines.push((k, key, ok));
                ok
            }
            1 => {
                let key = format!("u{task}-{n}");
                let result = players
                    .update(&ids[k], |p| {
                        p.metadata.insert(key.clone(), pad.clone());
                        p.wins += 1;
                        Ok::<_, Infallible>(())
                    })
                    .await;
                let ok = applied(result);
                log.updates.push((k, key, ok));
                ok
            }
            _ => {
                let mut p = Player::new(format!("n{task}-{n}"), PlayerStats::new(0, 0, 0, 0.0));
                p.score = n as i64;
                p.metadata.insert("pad".into(), pad.clone());
                let ok = applied(players.insert(&p).await);
                log.inserts.push((p, ok));
                ok
            }
        };
        if !ok {
            refused[kind] += 1;
        }
    }
    assert!(
        refused.iter().all(|r| *r >= REFUSALS),
        "task {task}: memory never ran out for every kind of write: {refused:?} after {n}"
    );
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_all_or_nothing_when_memory_runs_out() {
    let server = RedisServer::start_with(
        Transport::Unix,
        &[
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            "4mb",
            "--maxmemory-policy",
            "noeviction",
        ],
    );
    let db = Client::connect(&server.url).await.unwrap();
    assert_eq!(db.server().maxmemory_policy.as_deref(), Some("noeviction"));
    let players = Player::repo(&db);
    let mut ids = Vec::new();
    for i in 0..PLAYERS {
        let p = Player::new(format!("p{i}"), PlayerStats::new(0, 0, 0, 0.0));
        players.insert(&p).await.unwrap();
        ids.push(p.id);
    }

    let handles: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(fill(db.clone(), players.clone(), ids.clone(), task)))
        .collect();
    let mut logs = Vec::new();
    for h in handles {
        logs.push(h.await.unwrap());
    }

    // Reads work while memory is full: every instance, the index, lookups, counts.
    let stored = players.get_many(&ids).await.unwrap();
    let mut want_pipeline: Vec<BTreeSet<String>> = vec![BTreeSet::new(); PLAYERS];
    let mut want_update: Vec<BTreeSet<String>> = vec![BTreeSet::new(); PLAYERS];
    let (mut applied_writes, mut refused_writes) = (0, 0);
    for log in &logs {
        for (k, key, ok) in &log.pipelines {
            if *ok {
                want_pipeline[*k].insert(key.clone());
            }
        }
        for (k, key, ok) in &log.updates {
            if *ok {
                want_update[*k].insert(key.clone());
            }
        }
        for (_, _, ok) in log.pipelines.iter().chain(&log.updates) {
            if *ok {
                applied_writes += 1
            } else {
                refused_writes += 1
            }
        }
    }
    for (k, p) in stored.iter().enumerate() {
        let p = p.as_ref().expect("a seeded player vanished");
        let keys: BTreeMap<char, BTreeSet<String>> =
            p.metadata.keys().fold(BTreeMap::new(), |mut by, key| {
                by.entry(key.chars().next().unwrap())
                    .or_default()
                    .insert(key.clone());
                by
            });
        let got_pipeline = keys.get(&'p').cloned().unwrap_or_default();
        let got_update = keys.get(&'u').cloned().unwrap_or_default();
        // Both halves of every applied pipeline, neither half of a refused one.
        assert_eq!(
            got_pipeline, want_pipeline[k],
            "player {k}: pipeline entries"
        );
        assert_eq!(p.score, want_pipeline[k].len() as i64, "player {k}: score");
        assert_eq!(got_update, want_update[k], "player {k}: update entries");
        assert_eq!(p.wins, want_update[k].len() as i64, "player {k}: wins");
    }

    let index = players.by_score();
    let mut inserted = 0;
    for log in &logs {
        for (p, ok) in &log.inserts {
            let found = players.get(&p.id).await.unwrap();
            let rank = index.rank(&p.id).await.unwrap();
            let holder = players.by_username().pk(p.username.clone()).await.unwrap();
            if *ok {
                inserted += 1;
                assert_eq!(found.as_ref(), Some(p), "an applied insert is whole");
                assert!(rank.is_some(), "an applied insert is in the sorted index");
                assert_eq!(holder, Some(p.id), "an applied insert holds its username");
            } else {
                assert_eq!(found, None, "a refused insert left an instance");
                assert_eq!(rank, None, "a refused insert left an index entry");
                assert_eq!(holder, None, "a refused insert holds its username");
            }
        }
    }
    assert_eq!(players.count().await.unwrap(), (PLAYERS + inserted) as u64);
    assert_eq!(index.len().await.unwrap(), (PLAYERS + inserted) as u64);
    assert_eq!(index.top(5).await.unwrap().len(), 5);
    println!(
        "{applied_writes} pipelines and updates applied, {refused_writes} refused; {inserted} inserts applied"
    );
}
