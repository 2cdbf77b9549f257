//! Locks and optimistic transactions, uncontended and contended, on a private redis-server over
//! TCP.
//!
//! `cargo bench -p rapyer-tests --bench locks` prints the figures and writes
//! `target/bench/locks.json`; under `cargo test` it runs a few rounds as a smoke test.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rapyer::LockOptions;
use rapyer_tests::fixtures::keys_and_ttl::{Account, AccountRepo};
use rapyer_tests::harness::{RedisServer, Transport};

/// `tasks` tasks each doing `per_task` rounds of `round(task)`; returns rounds per second.
async fn run<F, Fut>(tasks: u64, per_task: u64, round: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let round = round.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    round(task).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("benchmark task");
    }
    (tasks * per_task) as f64 / start.elapsed().as_secs_f64()
}

fn lock_round(
    accounts: &AccountRepo,
    contended: bool,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + use<> {
    let accounts = accounts.clone();
    move |task| {
        let accounts = accounts.clone();
        Box::pin(async move {
            let pk = if contended { 0 } else { task as i64 };
            let opts = LockOptions::default().wait(Duration::from_secs(30));
            let key = accounts.lock_key(&pk, "bench").expect("key");
            let lock = rapyer::Lock::acquire(accounts.client(), &key, opts)
                .await
                .expect("acquire");
            lock.release().await.expect("release");
        })
    }
}

fn update_round(
    accounts: &AccountRepo,
    contended: bool,
    runs: Arc<AtomicU64>,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone + use<> {
    let accounts = accounts.clone();
    move |task| {
        let (accounts, runs) = (accounts.clone(), Arc::clone(&runs));
        Box::pin(async move {
            let pk = if contended { 0 } else { task as i64 };
            accounts
                .update(&pk, |a| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    a.balance += 1;
                    Ok::<_, Infallible>(())
                })
                .await
                .expect("update");
        })
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let per_task = if full { 500 } else { 5 };
    const TASKS: u64 = 16;
    let server = RedisServer::start(Transport::Tcp);
    let db = rapyer::Client::connect(&server.url).await.expect("connect");
    let accounts = Account::repo(&db);
    for n in 0..TASKS as i64 {
        accounts.insert(&Account::new(n)).await.expect("insert");
    }

    let mut rows = Vec::new();
    let single = run(1, per_task * 4, lock_round(&accounts, false)).await;
    rows.push(("lock acquire + release, 1 task", single, None));
    let spread = run(TASKS, per_task, lock_round(&accounts, false)).await;
    rows.push((
        "lock acquire + release, 16 tasks, 16 instances",
        spread,
        None,
    ));
    let contended = run(TASKS, per_task, lock_round(&accounts, true)).await;
    rows.push((
        "lock acquire + release, 16 tasks, 1 instance",
        contended,
        None,
    ));

    let runs = Arc::new(AtomicU64::new(0));
    let solo = run(
        1,
        per_task * 4,
        update_round(&accounts, false, Arc::clone(&runs)),
    )
    .await;
    let attempts = runs.swap(0, Ordering::Relaxed) as f64 / (per_task * 4) as f64;
    rows.push(("update, 1 task", solo, Some(attempts)));
    let spread = run(
        TASKS,
        per_task,
        update_round(&accounts, false, Arc::clone(&runs)),
    )
    .await;
    let attempts = runs.swap(0, Ordering::Relaxed) as f64 / (TASKS * per_task) as f64;
    rows.push(("update, 16 tasks, 16 instances", spread, Some(attempts)));
    let hot = run(
        TASKS,
        per_task,
        update_round(&accounts, true, Arc::clone(&runs)),
    )
    .await;
    let attempts = runs.swap(0, Ordering::Relaxed) as f64 / (TASKS * per_task) as f64;
    rows.push(("update, 16 tasks, 1 instance", hot, Some(attempts)));

    let total: i64 = {
        let pks: Vec<i64> = (0..TASKS as i64).collect();
        accounts
            .get_many(&pks)
            .await
            .expect("read")
            .into_iter()
            .map(|a| a.expect("account").balance)
            .sum()
    };
    let expected = (per_task * 4 + TASKS * per_task * 2) as i64;
    assert_eq!(total, expected, "an update was lost");

    println!("locks and optimistic transactions (TCP, {per_task} rounds per task)");
    println!(
        "{:<48} {:>12} {:>18}",
        "operation", "per second", "closure runs/update"
    );
    let mut json = Vec::new();
    for (name, rate, attempts) in &rows {
        let runs = attempts.map_or(String::from("-"), |a| format!("{a:.2}"));
        println!("{name:<48} {rate:>12.0} {runs:>18}");
        json.push(serde_json::json!({"name": name, "per_sec": rate.round(), "closure_runs_per_update": attempts}));
    }
    if full {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(dir.join("locks.json"), text).expect("write json");
    }
}
