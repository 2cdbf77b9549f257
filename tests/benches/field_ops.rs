//! Throughput of generated field operations against raw redis-rs on the same connection and
//! concurrency, on a private redis-server over TCP.
//!
//! `cargo bench -p rapyer-tests --bench field_ops` prints the figures and writes them to
//! `target/bench/field_ops.json`. Under `cargo test` (no `--bench` argument) it runs a few
//! operations only, as a smoke test of the benchmark itself.
//!
//! Raw and generated runs alternate, round after round, and medians are reported: on a small
//! machine the benchmark shares the CPU with the server, and alternating keeps drift out of the
//! ratios.

use std::time::Instant;

use rapyer_tests::fixtures::keys_and_ttl::Account;
use rapyer_tests::harness::{RedisServer, Transport};

/// Runs `op` `per_task` times in each of `tasks` tasks; returns operations per second.
async fn measure<F, Fut>(tasks: usize, per_task: usize, ops_per_call: usize, op: &F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    op().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("benchmark task");
    }
    (tasks * per_task * ops_per_call) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, total) = if full { (7, 100_000) } else { (1, 256) };
    let server = RedisServer::start(Transport::Tcp);
    let db = rapyer::Client::connect(&server.url).await.expect("connect");
    let accounts = Account::repo(&db);
    accounts.save(&Account::new(1)).await.expect("save");
    let key = accounts.key_of(&1).expect("key");

    let raw = {
        let (conn, key) = (db.connection(), key.clone());
        move || {
            let (mut conn, key) = (conn.clone(), key.clone());
            async move {
                let _: i64 = redis::cmd("HINCRBY")
                    .arg(&key)
                    .arg("balance")
                    .arg(1)
                    .query_async(&mut conn)
                    .await
                    .expect("HINCRBY");
            }
        }
    };
    let generated = {
        let accounts = accounts.clone();
        move || {
            let op = accounts.fields(&1).balance().incr(1);
            async move {
                op.await.expect("incr");
            }
        }
    };
    // The same with every operation a script call of its own (coalescing off), to show what
    // coalescing brings.
    let alone_db = rapyer::Client::builder(&server.url)
        .coalesce(false)
        .connect()
        .await
        .expect("connect");
    let uncoalesced = {
        let accounts = Account::repo(&alone_db);
        move || {
            let op = accounts.fields(&1).balance().incr(1);
            async move {
                op.await.expect("incr");
            }
        }
    };
    let pipelined = {
        let (accounts, db) = (accounts.clone(), db.clone());
        move || {
            let mut p = db.pipeline();
            for _ in 0..10 {
                p.add(accounts.fields(&1).balance().incr(1));
            }
            async move {
                p.exec().await.expect("pipeline");
            }
        }
    };

    println!(
        "field operations vs raw redis-rs: TCP, one multiplexed connection, median of {rounds} alternating rounds"
    );
    println!(
        "{:>6} {:>14} {:>14} {:>7} {:>16} {:>14}",
        "tasks", "raw HINCRBY/s", "generated/s", "ratio", "pipelined(10)/s", "uncoalesced/s"
    );
    let mut json = Vec::new();
    for tasks in [1, 4, 16, 64, 256] {
        let per_task = (total / tasks / if tasks == 1 { 5 } else { 1 }).max(1);
        let (mut raws, mut gens, mut pipes, mut ratios, mut alone) =
            (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let r = measure(tasks, per_task, 1, &raw).await;
            let g = measure(tasks, per_task, 1, &generated).await;
            let p = measure(tasks, (per_task / 10).max(1), 10, &pipelined).await;
            let u = measure(tasks, per_task, 1, &uncoalesced).await;
            ratios.push(g / r);
            raws.push(r);
            gens.push(g);
            pipes.push(p);
            alone.push(u);
        }
        let (r, g, p, ratio) = (median(raws), median(gens), median(pipes), median(ratios));
        let u = median(alone);
        println!("{tasks:>6} {r:>14.0} {g:>14.0} {ratio:>7.2} {p:>16.0} {u:>14.0}");
        json.push(serde_json::json!({
            "tasks": tasks,
            "raw_hincrby_per_sec": r.round(),
            "generated_incr_per_sec": g.round(),
            "ratio": (ratio * 100.0).round() / 100.0,
            "pipelined_incr_per_sec": p.round(),
            "uncoalesced_incr_per_sec": u.round(),
        }));
    }
    let balance = accounts.fields(&1).balance().get().await.expect("get");
    assert!(balance > 0, "the benchmark did not write");
    if full {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(dir.join("field_ops.json"), text).expect("write json");
    }
}
