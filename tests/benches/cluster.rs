//! Redis Cluster: generated `incr` against raw redis-rs cluster `HINCRBY` on a private 3-master
//! cluster, same run, ratio printed; and the two ways `update` could detect a conflict, measured
//! side by side on one server and on the cluster:
//!
//! - **WATCH** (what `update` does): WATCH + read on a connection of the slot's master, the
//!   closure, then MULTI + the ops script + EXEC. Detects every write to the instance's keys,
//!   whoever makes it.
//! - **version compare-and-apply** (measured here with raw commands, not built): read the instance
//!   with a version field, the closure, then one script that applies only if the version is
//!   unchanged and bumps it. Two round trips on the shared connection, but it detects only writes
//!   that bump the version (every rapyer write would have to, at a cost to each of them).
//!
//! `cargo bench -p rapyer-tests --bench cluster` prints the figures and writes
//! `target/bench/cluster.json`; under `cargo test` it runs a few operations as a smoke test.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rapyer::Client;
use rapyer_tests::fixtures::keys_and_ttl::{Account, AccountRepo, Wallet};
use rapyer_tests::harness::{RedisCluster, RedisServer, Transport};

/// `tasks` tasks each running `op(task)` `per_task` times; operations per second.
async fn measure<F, Fut>(tasks: usize, per_task: usize, op: &F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    op(task).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("benchmark task");
    }
    (tasks * per_task) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Generated `incr` vs raw `HINCRBY` on the cluster: one hot instance, and each task on a wallet
/// of its own (16 buckets spread over the masters).
async fn incr_rows(
    db: &Client,
    raw: &rapyer::Connection,
    rounds: usize,
    total: usize,
) -> Vec<serde_json::Value> {
    let wallets = Wallet::repo(db);
    for task in 0..256 {
        wallets
            .save(&Wallet::new(format!("w{task}")))
            .await
            .expect("save");
    }
    println!(
        "incr on a 3-master cluster: generated vs raw redis-rs ClusterConnection HINCRBY, median of {rounds} alternating rounds"
    );
    println!(
        "{:>6} {:>8} {:>14} {:>14} {:>7}",
        "tasks", "keys", "raw HINCRBY/s", "generated/s", "ratio"
    );
    let mut rows = Vec::new();
    for spread in [false, true] {
        for tasks in [1, 4, 16, 64, 256] {
            let per_task = (total / tasks / if tasks == 1 { 5 } else { 1 }).max(1);
            let key_of = {
                let wallets = wallets.clone();
                move |task: usize| {
                    let owner = if spread {
                        format!("w{task}")
                    } else {
                        "w0".into()
                    };
                    wallets.key_of(owner.as_str()).expect("key")
                }
            };
            let raw_op = {
                let (raw, key_of) = (raw.clone(), key_of.clone());
                move |task: usize| {
                    let (mut raw, key) = (raw.clone(), key_of(task));
                    async move {
                        let _: i64 = redis::cmd("HINCRBY")
                            .arg(&key)
                            .arg("coins")
                            .arg(1)
                            .query_async(&mut raw)
                            .await
                            .expect("HINCRBY");
                    }
                }
            };
            let generated = {
                let wallets = wallets.clone();
                move |task: usize| {
                    let owner = if spread {
                        format!("w{task}")
                    } else {
                        "w0".into()
                    };
                    let op = wallets.fields(owner.as_str()).coins().incr(1);
                    async move {
                        op.await.expect("incr");
                    }
                }
            };
            let (mut raws, mut gens, mut ratios) = (vec![], vec![], vec![]);
            for _ in 0..rounds {
                let r = measure(tasks, per_task, &raw_op).await;
                let g = measure(tasks, per_task, &generated).await;
                ratios.push(g / r);
                raws.push(r);
                gens.push(g);
            }
            let (r, g, ratio) = (median(raws), median(gens), median(ratios));
            let keys = if spread { "per task" } else { "one" };
            println!("{tasks:>6} {keys:>8} {r:>14.0} {g:>14.0} {ratio:>7.2}");
            rows.push(serde_json::json!({
                "tasks": tasks,
                "keys": keys,
                "raw_hincrby_per_sec": r.round(),
                "generated_incr_per_sec": g.round(),
                "ratio": (ratio * 100.0).round() / 100.0,
            }));
        }
    }
    rows
}

/// The version compare-and-apply script measured against `update` (see the module docs).
const CAS: &str = "local v = redis.call('HGET', KEYS[1], '@ver') or '0' \
    if v ~= ARGV[1] then return 0 end \
    redis.call('HSET', KEYS[1], 'balance', ARGV[2]) \
    redis.call('HINCRBY', KEYS[1], '@ver', 1) \
    return 1";

/// One `balance += 1` by version compare-and-apply; returns the rounds it took.
async fn cas_increment(conn: &mut rapyer::Connection, script: &redis::Script, key: &str) -> u64 {
    let mut rounds = 0;
    loop {
        rounds += 1;
        let (balance, version): (Option<i64>, Option<String>) = redis::cmd("HMGET")
            .arg(key)
            .arg("balance")
            .arg("@ver")
            .query_async(conn)
            .await
            .expect("read");
        let applied: i64 = script
            .key(key)
            .arg(version.unwrap_or_else(|| "0".into()))
            .arg(balance.unwrap_or(0) + 1)
            .invoke_async(conn)
            .await
            .expect("compare-and-apply");
        if applied == 1 {
            return rounds;
        }
    }
}

/// `update` (WATCH) against version compare-and-apply, 16 tasks, spread and on one instance.
async fn update_rows(db: &Client, deployment: &str, per_task: usize) -> Vec<serde_json::Value> {
    let accounts: AccountRepo = Account::repo(db);
    for n in 0..16 {
        accounts.save(&Account::new(n)).await.expect("save");
    }
    let script = Arc::new(redis::Script::new(CAS));
    let mut rows = Vec::new();
    for hot in [false, true] {
        let runs = Arc::new(AtomicU64::new(0));
        let watch = {
            let (accounts, runs) = (accounts.clone(), Arc::clone(&runs));
            move |task: usize| {
                let (accounts, runs) = (accounts.clone(), Arc::clone(&runs));
                async move {
                    let pk = if hot { 0 } else { task as i64 };
                    accounts
                        .update(&pk, |a| {
                            runs.fetch_add(1, Ordering::Relaxed);
                            a.balance += 1;
                            Ok::<_, Infallible>(())
                        })
                        .await
                        .expect("update");
                }
            }
        };
        let watch_rate = measure(16, per_task, &watch).await;
        let watch_runs = runs.swap(0, Ordering::Relaxed) as f64 / (16 * per_task) as f64;
        let cas = {
            let (accounts, runs, script, conn) = (
                accounts.clone(),
                Arc::clone(&runs),
                Arc::clone(&script),
                db.connection(),
            );
            move |task: usize| {
                let (runs, script, mut conn) =
                    (Arc::clone(&runs), Arc::clone(&script), conn.clone());
                let pk = if hot { 0 } else { task as i64 };
                let key = accounts.key_of(&pk).expect("key");
                async move {
                    let rounds = cas_increment(&mut conn, &script, &key).await;
                    runs.fetch_add(rounds, Ordering::Relaxed);
                }
            }
        };
        let cas_rate = measure(16, per_task, &cas).await;
        let cas_runs = runs.swap(0, Ordering::Relaxed) as f64 / (16 * per_task) as f64;
        let instances = if hot { "1 instance" } else { "16 instances" };
        println!(
            "{deployment:<14} {instances:<13} {watch_rate:>10.0} {watch_runs:>6.2} {cas_rate:>10.0} {cas_runs:>6.2}"
        );
        rows.push(serde_json::json!({
            "deployment": deployment,
            "instances": instances,
            "watch_per_sec": watch_rate.round(),
            "watch_rounds": (watch_runs * 100.0).round() / 100.0,
            "cas_per_sec": cas_rate.round(),
            "cas_rounds": (cas_runs * 100.0).round() / 100.0,
        }));
    }
    let pks: Vec<i64> = (0..16).collect();
    let total: i64 = accounts
        .get_many(&pks)
        .await
        .expect("read")
        .into_iter()
        .map(|a| a.expect("account").balance)
        .sum();
    assert_eq!(total, 4 * 16 * per_task as i64, "an update was lost");
    rows
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, total, per_task) = if full { (5, 60_000, 300) } else { (1, 128, 2) };
    let cluster = RedisCluster::start(3, 0);
    let db = Client::connect_cluster(&cluster.urls())
        .await
        .expect("connect");
    let raw = rapyer::Connection::Cluster(
        redis::cluster::ClusterClient::new(cluster.urls())
            .expect("urls")
            .get_async_connection()
            .await
            .expect("raw cluster connection"),
    );
    let incr = incr_rows(&db, &raw, rounds, total).await;

    println!("update by WATCH vs version compare-and-apply: 16 tasks, balance += 1");
    println!(
        "{:<14} {:<13} {:>10} {:>6} {:>10} {:>6}",
        "deployment", "instances", "WATCH/s", "rounds", "CAS/s", "rounds"
    );
    let server = RedisServer::start(Transport::Tcp);
    let single = Client::connect(&server.url).await.expect("connect");
    let mut updates = update_rows(&single, "one server", per_task).await;
    updates.extend(update_rows(&db, "3-master", per_task).await);

    if full {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let json = serde_json::json!({ "incr": incr, "update": updates });
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(dir.join("cluster.json"), text).expect("write json");
    }
}
