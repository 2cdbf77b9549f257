//! Many concurrent writers lose no update, a pipeline is never seen half-applied, and losing the
//! server's script cache mid-run changes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rapyer_tests::fixtures::all_types::{Sample, SampleRepo};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::empty_sample;

const TASKS: usize = 64;
const PER_TASK: usize = 1_000;

/// A saved sample whose counters (nested ones too) are all zero.
async fn fresh(t: &TestRedis, name: &str) -> SampleRepo {
    let repo = Sample::repo(&t.client);
    let mut sample = empty_sample(name);
    sample.nested.count = 0;
    sample.nested.ratio = 0.0;
    repo.save(&sample).await.unwrap();
    repo
}

/// Runs `TASKS` tasks, each calling `step(task, i)` `PER_TASK` times.
async fn hammer<F, Fut>(step: F)
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let step = Arc::clone(&step);
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    step(task, i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Checks every counter, list, set and map written by `hammer` with unique `task:i` elements.
async fn assert_nothing_lost(repo: &SampleRepo, name: &str) {
    let total = TASKS * PER_TASK;
    let got = repo.get(name).await.unwrap().unwrap();
    assert_eq!(got.count, total as i64, "lost increments");
    assert_eq!(got.list_text.len(), total, "lost list pushes");
    let distinct: BTreeSet<&String> = got.list_text.iter().collect();
    assert_eq!(distinct.len(), total, "list elements lost or duplicated");
    assert_eq!(got.set_text.len(), total, "lost set adds");
    assert_eq!(got.map_count.len(), total, "lost map inserts");
    assert_eq!(
        got.map_count.values().sum::<i64>(),
        (0..TASKS)
            .map(|_| (0..PER_TASK as i64).sum::<i64>())
            .sum::<i64>()
    );
}

rapyer_tests::on_both!(
    concurrent_field_operations_lose_nothing,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn concurrent_field_operations_lose_nothing(t: TestRedis) {
    let repo = fresh(&t, "hot").await;
    let r = repo.clone();
    hammer(move |task, i| {
        let f = r.fields("hot");
        async move {
            let id = format!("{task}:{i}");
            f.count().incr(1).await.unwrap();
            f.list_text().push_back(id.clone()).await.unwrap();
            f.set_text().add(id.clone()).await.unwrap();
            f.map_count().insert(id, i as i64).await.unwrap();
        }
    })
    .await;
    assert_nothing_lost(&repo, "hot").await;
}

rapyer_tests::on_both!(
    concurrent_pipelines_lose_nothing,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn concurrent_pipelines_lose_nothing(t: TestRedis) {
    let repo = fresh(&t, "hot").await;
    let (r, client) = (repo.clone(), t.client.clone());
    hammer(move |task, i| {
        let f = r.fields("hot");
        let mut p = client.pipeline();
        let id = format!("{task}:{i}");
        p.add(f.count().incr(1));
        p.add(f.list_text().push_back(id.clone()));
        p.add(f.set_text().add(id.clone()));
        p.add(f.map_count().incr(&id, i as i64));
        async move {
            p.exec().await.unwrap();
        }
    })
    .await;
    assert_nothing_lost(&repo, "hot").await;
}

rapyer_tests::on_both!(
    readers_never_see_a_pipeline_half_applied,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn readers_never_see_a_pipeline_half_applied(t: TestRedis) {
    let repo = fresh(&t, "x").await;
    fresh(&t, "y").await;
    let done = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(AtomicU64::new(0));

    // Writers keep `count == 10 * nested.count` on x, and `x.nested.ratio + y.ratio == 0`
    // across two instances.
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (repo, client) = (repo.clone(), t.client.clone());
            tokio::spawn(async move {
                for _ in 0..400 {
                    let mut p = client.pipeline();
                    p.add(repo.fields("x").count().incr(10));
                    p.add(repo.fields("x").nested().count().incr(1));
                    p.add(repo.fields("x").nested().ratio().incr(1.0));
                    p.add(repo.fields("y").ratio().incr(-1.0));
                    p.exec().await.unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (repo, client, done, observed) = (
                repo.clone(),
                t.client.clone(),
                Arc::clone(&done),
                Arc::clone(&observed),
            );
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    // Through a whole-instance read...
                    let x = repo.get("x").await.unwrap().unwrap();
                    assert_eq!(x.count, 10 * x.nested.count, "broken invariant seen");
                    // ...and through a pipeline of reads over both instances.
                    let mut p = client.pipeline();
                    let count = p.add(repo.fields("x").count().get());
                    let wins = p.add(repo.fields("x").nested().count().get());
                    let plus = p.add(repo.fields("x").nested().ratio().get());
                    let minus = p.add(repo.fields("y").ratio().get());
                    let mut r = p.exec().await.unwrap();
                    assert_eq!(r.take(count).unwrap(), 10 * r.take(wins).unwrap());
                    assert_eq!(r.take(plus).unwrap() + r.take(minus).unwrap(), 0.0);
                    observed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let x = repo.get("x").await.unwrap().unwrap();
    assert_eq!((x.count, x.nested.count), (8 * 400 * 10, 8 * 400));
    assert!(
        observed.load(Ordering::Relaxed) >= 10,
        "the readers barely ran: {}",
        observed.load(Ordering::Relaxed)
    );
}

rapyer_tests::on_both!(
    losing_the_script_cache_mid_run_applies_every_operation_once,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn losing_the_script_cache_mid_run_applies_every_operation_once(t: TestRedis) {
    // A client without functions calls scripts by EVALSHA: each NOSCRIPT is answered by EVAL.
    let client = t.builder().functions(false).connect().await.unwrap();
    flushing_mid_run(&t, client, "SCRIPT").await;
}

rapyer_tests::on_both!(
    losing_the_functions_mid_run_applies_every_operation_once,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn losing_the_functions_mid_run_applies_every_operation_once(t: TestRedis) {
    // Each "Function not found" is answered by FUNCTION LOAD and the same call, once.
    flushing_mid_run(&t, t.client.clone(), "FUNCTION").await;
}

/// Single operations, pipelines and transactions from 16 tasks while `flush FLUSH` empties every
/// node's script cache or functions every 2 ms: every operation applies exactly once.
async fn flushing_mid_run(t: &TestRedis, client: rapyer::Client, flush: &'static str) {
    fresh(t, "s").await;
    // Transactions go to their own instance: one "s" written by every task would abort most
    // commits by WATCH, which is contention, not what this test is about.
    fresh(t, "u").await;
    let repo = Sample::repo(&client);
    let done = Arc::new(AtomicBool::new(false));
    let flushes = Arc::new(AtomicU64::new(0));
    let flusher = {
        let (mut raw, done, flushes) = (t.raw().await, Arc::clone(&done), Arc::clone(&flushes));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let _: () = redis::cmd(flush)
                    .arg("FLUSH")
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                flushes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    const TASKS: i64 = 16;
    const ROUNDS: i64 = 300;
    let workers: Vec<_> = (0..TASKS)
        .map(|task| {
            let (repo, client) = (repo.clone(), client.clone());
            tokio::spawn(async move {
                for i in 0..ROUNDS {
                    let f = repo.fields("s");
                    f.count().incr(1).await.unwrap();
                    let mut p = client.pipeline();
                    p.add(f.count().incr(1));
                    p.add(f.list_count().push_back(task * ROUNDS + i));
                    p.exec().await.unwrap();
                    // An optimistic transaction's commit (FCALL inside MULTI/EXEC).
                    if i % 10 == 0 {
                        repo.update("u", |s| {
                            s.nested.count += 1;
                            Ok::<_, std::convert::Infallible>(())
                        })
                        .await
                        .unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    flusher.await.unwrap();
    let got = repo.get("s").await.unwrap().unwrap();
    assert_eq!(got.count, 2 * TASKS * ROUNDS);
    let pushed: BTreeSet<i64> = got.list_count.iter().copied().collect();
    assert_eq!(got.list_count.len() as i64, TASKS * ROUNDS);
    assert_eq!(pushed, (0..TASKS * ROUNDS).collect());
    let updated = repo.get("u").await.unwrap().unwrap();
    assert_eq!(updated.nested.count, TASKS * ROUNDS / 10);
    assert!(
        flushes.load(Ordering::Relaxed) >= 20,
        "the cache was flushed only {} times",
        flushes.load(Ordering::Relaxed)
    );
}
