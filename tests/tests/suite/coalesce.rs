//! Coalescing: single operations issued concurrently on one client share script calls, each
//! keeping its own result and error.

use std::collections::BTreeSet;
use std::sync::Arc;

use rapyer::Error;
use rapyer_tests::fixtures::keys_and_ttl::Account;
use rapyer_tests::harness::TestRedis;
use redis::AsyncCommands;

/// What one task got: the new balance, or which error.
#[derive(Debug)]
enum Outcome {
    Balance(i64),
    NotFound,
    Decode,
    Overflow,
}

rapyer_tests::on_all!(
    concurrent_single_operations_share_calls_and_keep_their_own_outcomes,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn concurrent_single_operations_share_calls_and_keep_their_own_outcomes(t: TestRedis) {
    let accounts = Account::repo(&t.client);
    accounts.save(&Account::new(1)).await.unwrap();
    let mut full = Account::new(2);
    full.balance = i64::MAX;
    accounts.save(&full).await.unwrap();
    accounts.save(&Account::new(3)).await.unwrap();
    // Junk behind rapyer's back: account 3's balance is not a number.
    let key = accounts.key_of(&3).unwrap();
    let _: () = t.raw().await.hset(&key, "balance", "junk").await.unwrap();

    let calls_before = if t.is_cluster() {
        None
    } else {
        Some(t.atomic_steps().await)
    };
    const TASKS: usize = 256;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (accounts, barrier) = (accounts.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                // Most increment account 1; some hit a missing account, an overflow or junk.
                let number = match i % 16 {
                    13 => 404,
                    14 => 2,
                    15 => 3,
                    _ => 1,
                };
                match accounts.fields(&number).balance().incr(1).await {
                    Ok(balance) => Outcome::Balance(balance),
                    Err(Error::NotFound { .. }) => Outcome::NotFound,
                    Err(Error::Overflow { .. }) => Outcome::Overflow,
                    Err(Error::Decode { .. }) => Outcome::Decode,
                    Err(e) => panic!("task {i}: {e}"),
                }
            })
        })
        .collect();
    let mut balances = BTreeSet::new();
    let (mut not_found, mut overflow, mut decode) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Outcome::Balance(b) => assert!(balances.insert(b), "balance {b} given twice"),
            Outcome::NotFound => not_found += 1,
            Outcome::Overflow => overflow += 1,
            Outcome::Decode => decode += 1,
        }
    }
    // Every increment of account 1 applied once, and each saw its own result.
    let increments = TASKS / 16 * 13;
    assert_eq!(balances, (1..=increments as i64).collect());
    assert_eq!(
        accounts.fields(&1).balance().get().await.unwrap(),
        increments as i64
    );
    assert_eq!((not_found, overflow, decode), (16, 16, 16));
    // Nothing was created or changed by the failures.
    assert!(!accounts.exists(&404).await.unwrap());
    assert_eq!(accounts.fields(&2).balance().get().await.unwrap(), i64::MAX);
    // Fewer script calls than operations: they were shared (one server: INFO counts them all).
    if let Some(before) = calls_before {
        let calls = t.atomic_steps().await - before;
        assert!(
            calls < TASKS as u64,
            "{calls} script calls for {TASKS} operations"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_coalescing_sends_each_operation_alone() {
    let t = TestRedis::new().await;
    let mut builder = rapyer::Client::builder(&t.url).coalesce(false);
    if let Some(ns) = &t.namespace {
        builder = builder.namespace(ns.clone());
    }
    let accounts = Account::repo(&builder.connect().await.unwrap());
    accounts.save(&Account::new(1)).await.unwrap();
    // Once, so that the server has the library: a first call may take two (FCALL, then
    // FUNCTION LOAD and FCALL).
    accounts.fields(&1).balance().incr(0).await.unwrap();
    let before = t.atomic_steps().await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.fields(&1).balance().incr(1).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(t.atomic_steps().await - before, 64);
    assert_eq!(accounts.fields(&1).balance().get().await.unwrap(), 64);
}

/// Coalesced calls whose replies do not come in time: every op is reported unknown (or done),
/// none is sent again, so each applies at most once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_coalesced_calls_are_unknown_and_never_resent() {
    use rapyer_tests::harness::{RedisServer, Transport};
    use std::time::Duration;
    let server = RedisServer::start(Transport::Tcp);
    let client = rapyer::Client::builder(&server.url)
        .response_timeout(Some(Duration::from_millis(200)))
        .connect()
        .await
        .unwrap();
    let accounts = Account::repo(&client);
    accounts.insert(&Account::new(1)).await.unwrap();
    assert_eq!(accounts.fields(&1).balance().incr(0).await.unwrap(), 0);
    // Another client keeps the server busy for most of a second.
    let busy = rapyer_tests::harness::keep_busy(&server.url, Duration::from_millis(800)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // More callers than calls may be in flight: the rest wait, then share calls.
    const TASKS: usize = 100;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.fields(&1).balance().incr(1).await })
        })
        .collect();
    let (mut done, mut unknown) = (0i64, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => done += 1,
            Err(Error::OutcomeUnknown { .. }) => unknown += 1,
            Err(e) => panic!("{e}"),
        }
    }
    busy.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(unknown > 0, "no call timed out");
    let applied = accounts.fields(&1).balance().get().await.unwrap();
    assert!(
        (done..=TASKS as i64).contains(&applied),
        "{done} done, {unknown} unknown, applied {applied}"
    );
}

/// A server out of memory refuses a shared call before running it: each op then runs alone and
/// reports `OutOfMemory` as an uncoalesced op does, and none applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_calls_refused_for_memory_report_out_of_memory_for_each_op() {
    use rapyer_tests::harness::{RedisServer, Transport};
    let server = RedisServer::start_with(
        Transport::Tcp,
        &[
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            "64mb",
            "--maxmemory-policy",
            "noeviction",
        ],
    );
    let client = rapyer::Client::connect(&server.url).await.unwrap();
    let accounts = Account::repo(&client);
    accounts.insert(&Account::new(1)).await.unwrap();
    // Some data, then a limit below what the server holds: every write is refused from now.
    let mut raw = client.connection();
    for i in 0..32 {
        let _: () = redis::cmd("SET")
            .arg(format!("filler:{i}"))
            .arg("x".repeat(64 << 10))
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1mb")
        .query_async(&mut raw)
        .await
        .unwrap();
    const TASKS: usize = 100;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (accounts, barrier) = (accounts.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                accounts.fields(&1).balance().incr(1).await
            })
        })
        .collect();
    for task in tasks {
        let result = task.await.unwrap();
        assert!(
            matches!(result, Err(Error::OutOfMemory { .. })),
            "{result:?}"
        );
    }
    // Nothing applied (read by the whole-instance read, which a full server still serves).
    assert_eq!(accounts.get(&1).await.unwrap().unwrap().balance, 0);
}
