//! Redis Sentinel against real processes (a master, a replica, three sentinels): two clients
//! follow `SENTINEL FAILOVER` and a `kill -9` of the master while tasks transfer money with
//! pipelines, `update` and lock pairs and count increments. Totals stay exact; the client with
//! `wait_replicas(1, ..)` loses no acknowledged increment; the one without keeps making progress
//! in every phase (the durable one cannot while no replica is attached: after the failover the
//! old master rejoins as a replica only when the sentinels reconfigure it, seconds later).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rapyer::{Client, Error, LockOptions};
use rapyer_tests::fixtures::keys_and_ttl::{Account, AccountRepo};
use rapyer_tests::harness::{MASTER_NAME, SentinelSetup};

const ACCOUNTS: i64 = 10;
const START: i64 = 1_000;
/// The accounts whose balances count increments of the durable client and of the plain one
/// (never part of a transfer).
const COUNTER: i64 = 99;
const PLAIN_COUNTER: i64 = 98;

/// What the tasks saw.
#[derive(Default)]
struct Tally {
    /// Increments acknowledged (and, with wait_replicas, replicated).
    acked: AtomicU64,
    /// Increments whose outcome is unknown (the reply was lost in a failover).
    unknown: AtomicU64,
    /// Increments applied on a master that no replica confirmed.
    not_durable: AtomicU64,
    /// Operations that succeeded, per phase (before, after the failover, after the kill).
    ok: [AtomicU64; 3],
    /// Calls that gave up (Unavailable): the client did not follow.
    unavailable: AtomicU64,
}

/// Sorts an operation's result into the tally; other errors fail the test.
fn record<T>(tally: &Tally, phase: usize, result: rapyer::Result<T>) {
    match result {
        Ok(_) => {
            tally.ok[phase].fetch_add(1, Ordering::Relaxed);
        }
        // Unknown, applied but not confirmed by a replica, or refused because the lock expired
        // while the call waited out the failover (or vanished with the killed master): all
        // honest outcomes of a failover.
        Err(Error::OutcomeUnknown { .. } | Error::NotDurable { .. } | Error::LockLost { .. }) => {}
        Err(Error::Unavailable { .. }) => {
            tally.unavailable.fetch_add(1, Ordering::Relaxed);
        }
        Err(other) => panic!("unexpected error during failover: {other:?}"),
    }
}

async fn work(
    client: Client,
    accounts: AccountRepo,
    task: u64,
    counter: i64,
    tally: Arc<Tally>,
    phase: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = fastrand::Rng::with_seed(task);
    // Even tasks take locks; odd ones never wait for one (a lock whose release was lost in a
    // failover blocks its takers for its TTL).
    let locking = task.is_multiple_of(2);
    while !stop.load(Ordering::Relaxed) {
        let now = phase.load(Ordering::Relaxed) as usize;
        let from = rng.i64(0..ACCOUNTS);
        let to = (from + rng.i64(1..ACCOUNTS)) % ACCOUNTS;
        let amount = rng.i64(1..=50);
        let kind = match (locking, rng.u8(0..3)) {
            (true, 0) => 2,
            (_, 0) => 0,
            (_, 1) => 1,
            _ => 3,
        };
        match kind {
            // A pipeline moving money: one atomic script.
            0 => {
                let mut p = client.pipeline();
                p.add(accounts.fields(&from).balance().decr(amount));
                p.add(accounts.fields(&to).balance().incr(amount));
                record(&tally, now, p.exec().await);
            }
            // update: WATCH on a dedicated connection to the master of the moment.
            1 => {
                let result = accounts
                    .update_many(&[&from, &to], |both| {
                        both[0].balance -= amount;
                        both[1].balance += amount;
                        Ok::<_, Infallible>(())
                    })
                    .await;
                record(&tally, now, result);
            }
            // Lock pair, then a lock-checked pipeline.
            2 => {
                let opts = LockOptions::default()
                    .ttl(Duration::from_secs(3))
                    .wait(Duration::from_secs(20));
                match accounts.lock_pair(&from, &to, "money", opts).await {
                    Ok((a, b)) => {
                        let mut p = client.pipeline();
                        p.require_lock(a.lock()).require_lock(b.lock());
                        p.add(accounts.fields(&from).balance().decr(amount));
                        p.add(accounts.fields(&to).balance().incr(amount));
                        record(&tally, now, p.exec().await);
                        // A release lost in the failover only leaves the lock to expire.
                        let _ = a.release().await;
                        let _ = b.release().await;
                    }
                    Err(e) => record(&tally, now, Err::<(), _>(e)),
                }
            }
            // An increment to count.
            _ => match accounts.fields(&counter).balance().incr(1).await {
                Ok(_) => {
                    tally.acked.fetch_add(1, Ordering::Relaxed);
                    tally.ok[now].fetch_add(1, Ordering::Relaxed);
                }
                Err(Error::OutcomeUnknown { .. }) => {
                    tally.unknown.fetch_add(1, Ordering::Relaxed);
                }
                Err(Error::NotDurable { .. }) => {
                    tally.not_durable.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => record(&tally, now, Err::<(), _>(e)),
            },
        }
    }
}

/// The increments on `counter`, checked against what `tally` saw.
async fn counted(accounts: &AccountRepo, counter: i64) -> u64 {
    accounts.get(&counter).await.unwrap().unwrap().balance as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_follows_a_failover_and_a_killed_master_with_exact_totals() {
    let mut setup = SentinelSetup::start();
    let builder = || {
        Client::sentinel_builder(&setup.sentinel_urls(), MASTER_NAME)
            .retry_for(Duration::from_secs(30))
    };
    let durable = builder()
        .wait_replicas(1, Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let plain = builder().connect().await.unwrap();
    let accounts = Account::repo(&durable);
    for n in 0..ACCOUNTS {
        let mut a = Account::new(n);
        a.balance = START;
        accounts.insert(&a).await.unwrap();
    }
    accounts.insert(&Account::new(COUNTER)).await.unwrap();
    accounts.insert(&Account::new(PLAIN_COUNTER)).await.unwrap();

    let tallies = [Arc::new(Tally::default()), Arc::new(Tally::default())];
    let phase = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            // Tasks 0-3 on the durable client, 4-7 on the plain one.
            let (client, counter, tally) = match task < 4 {
                true => (&durable, COUNTER, &tallies[0]),
                false => (&plain, PLAIN_COUNTER, &tallies[1]),
            };
            tokio::spawn(work(
                client.clone(),
                Account::repo(client),
                task,
                counter,
                Arc::clone(tally),
                Arc::clone(&phase),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let pause = || tokio::time::sleep(Duration::from_millis(2000));

    pause().await;
    let before = setup.master_port();
    let promoted = tokio::task::block_in_place(|| setup.failover());
    assert_ne!(promoted, before);
    phase.store(1, Ordering::Relaxed);
    pause().await;
    tokio::task::block_in_place(|| setup.wait_replica_in_sync());
    let killed = tokio::task::block_in_place(|| setup.kill_master());
    let last = tokio::task::block_in_place(|| setup.wait_new_master(promoted));
    assert_eq!(last, before, "the first master is the only one left");
    phase.store(2, Ordering::Relaxed);
    // The killed server comes back as a replica, so writes are durable again.
    tokio::task::block_in_place(|| {
        setup.restart(killed);
        setup.wait_replica_in_sync();
    });
    pause().await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let pks: Vec<i64> = (0..ACCOUNTS).collect();
    let total: i64 = accounts
        .get_many(&pks)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.expect("an account vanished").balance)
        .sum();
    assert_eq!(total, ACCOUNTS * START, "money was created or lost");
    for (tally, counter, name) in [
        (&tallies[0], COUNTER, "durable"),
        (&tallies[1], PLAIN_COUNTER, "plain"),
    ] {
        let counted = counted(&accounts, counter).await;
        let (acked, unknown, not_durable) = (
            tally.acked.load(Ordering::Relaxed),
            tally.unknown.load(Ordering::Relaxed),
            tally.not_durable.load(Ordering::Relaxed),
        );
        let ok: Vec<u64> = tally.ok.iter().map(|n| n.load(Ordering::Relaxed)).collect();
        println!(
            "{name}: ok per phase {ok:?}; increments: {acked} acknowledged, {unknown} unknown, {not_durable} not durable, {counted} counted"
        );
        assert!(
            counted <= acked + unknown + not_durable,
            "{name}: increments from nowhere"
        );
        assert_eq!(
            tally.unavailable.load(Ordering::Relaxed),
            0,
            "{name}: the client did not follow"
        );
        if name == "durable" {
            assert!(
                counted >= acked,
                "{} acknowledged increments were lost",
                acked - counted
            );
            assert!(ok[0] > 0 && ok[2] > 0, "durable: no progress: {ok:?}");
        } else {
            assert!(
                ok.iter().all(|n| *n > 0),
                "plain: no progress in some phase: {ok:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_master_name_or_no_sentinel_is_a_clear_error() {
    let setup = SentinelSetup::start();
    let err = Client::connect_sentinel(&setup.sentinel_urls(), "nosuchmaster")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("knows no master named `nosuchmaster`"),
        "{err}"
    );
    let err = Client::connect_sentinel(&["redis://127.0.0.1:1/"], MASTER_NAME)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    // A sentinel is not a data server.
    let err = Client::connect(&setup.sentinel_urls()[0])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedServer { .. }), "{err:?}");
}

#[test]
fn the_demo_runs_through_sentinel() {
    let setup = SentinelSetup::start();
    let demo = |args: &[&str]| {
        let out = rapyer_tests::workspace_bin("rapyer-example", "leaderboard")
            .args([
                "--sentinel",
                &setup.sentinel_urls().join(","),
                "--master",
                MASTER_NAME,
            ])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "leaderboard {args:?}: {text}");
        text
    };
    assert!(demo(&["seed", "30"]).contains("seeded 30 players"));
    let out = demo(&["race", "--tasks", "8", "--increments", "50"]);
    assert!(out.contains("got 400, lost 0"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_reaches_the_sentinels_and_every_master() {
    let files = rapyer_tests::harness::tls_files();
    let setup = SentinelSetup::start_tls();
    let urls = setup.sentinel_urls();
    assert!(urls.iter().all(|u| u.starts_with("rediss://")));
    let db = Client::sentinel_builder(&urls, MASTER_NAME)
        .tls_root_cert(files.ca_pem.clone())
        .tls_client_cert(files.client_cert_pem.clone(), files.client_key_pem.clone())
        .wait_replicas(1, Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let accounts = Account::repo(&db);
    accounts.insert(&Account::new(1)).await.unwrap();
    accounts.fields(&1).balance().incr(5).await.unwrap();
    let before = setup.master_port();
    let promoted = tokio::task::block_in_place(|| setup.failover());
    assert_ne!(promoted, before);
    // Until the old master learns it was demoted it still takes writes (docs/security.md);
    // once it is a replica, the client meets READONLY and moves to the new master.
    tokio::task::block_in_place(|| setup.wait_replica_in_sync());
    // Writes and transactions reach the new master, over TLS.
    accounts.fields(&1).balance().incr(5).await.unwrap();
    accounts
        .update(&1, |a| {
            a.balance *= 2;
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();
    assert_eq!(accounts.get(&1).await.unwrap().unwrap().balance, 20);
    // The sentinels need the CA too.
    let err = Client::connect_sentinel(&urls, MASTER_NAME)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}
