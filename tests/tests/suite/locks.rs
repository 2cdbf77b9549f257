//! Locks: expiring, fenced, compare-and-set release, all or nothing without deadlock, fresh
//! snapshots, writes refused once lost.

use std::time::{Duration, Instant};

use rapyer::{Error, LockOptions, LockSet};
use rapyer_tests::fixtures::all_types::Sample;
use rapyer_tests::fixtures::keys_and_ttl::{Account, AccountRepo, Counter};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::empty_sample;

fn quick(ttl_ms: u64, wait_ms: u64) -> LockOptions {
    LockOptions::default()
        .ttl(Duration::from_millis(ttl_ms))
        .wait(Duration::from_millis(wait_ms))
}

async fn accounts(t: &TestRedis, n: i64, balance: i64) -> AccountRepo {
    let repo = Account::repo(&t.client);
    for number in 0..n {
        let mut a = Account::new(number);
        a.balance = balance;
        repo.insert(&a).await.unwrap();
    }
    repo
}

rapyer_tests::on_all!(a_lock_is_exclusive_fenced_and_never_released_from_a_new_owner);
async fn a_lock_is_exclusive_fenced_and_never_released_from_a_new_owner(t: TestRedis) {
    let repo = accounts(&t, 1, 0).await;
    let first = repo.lock_with(&0, "edit", quick(200, 0)).await.unwrap();
    assert!(first.lock().is_held().await.unwrap());
    // Held: a second taker times out.
    let err = repo
        .lock_with(&0, "edit", quick(200, 50))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
    // Another lock name on the same instance is independent.
    let other = repo.lock_with(&0, "audit", quick(1000, 0)).await.unwrap();
    other.release().await.unwrap();

    // The TTL runs out; a new owner takes it with a larger fence.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = repo.lock_with(&0, "edit", quick(5000, 1000)).await.unwrap();
    assert!(second.lock().fence() > first.lock().fence());
    // The first holder can neither write, extend nor release it.
    assert!(matches!(first.save().await, Err(Error::LockLost { .. })));
    assert!(matches!(
        first.lock().extend(Duration::from_secs(1)).await,
        Err(Error::LockLost { .. })
    ));
    assert!(matches!(first.release().await, Err(Error::LockLost { .. })));
    assert!(
        second.lock().is_held().await.unwrap(),
        "the new owner's lock was touched"
    );
    let mut second = second;
    second.value_mut().balance = 5;
    second.save().await.unwrap();
    second.release().await.unwrap();
    assert_eq!(repo.fields(&0).balance().get().await.unwrap(), 5);
    // A missing instance: NotFound, and the lock is not left behind.
    assert!(matches!(
        repo.lock_with(&404, "edit", quick(5000, 0)).await,
        Err(Error::NotFound { .. })
    ));
    repo.insert(&Account::new(404)).await.unwrap();
    repo.lock_with(&404, "edit", quick(5000, 0))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    // Lock keys are not instances.
    assert_eq!(repo.count().await.unwrap(), 2);
    assert_eq!(repo.all().await.unwrap(), vec![0, 404]);
}

rapyer_tests::on_all!(a_stopped_holder_blocks_nobody_past_the_ttl_and_cannot_write_late);
async fn a_stopped_holder_blocks_nobody_past_the_ttl_and_cannot_write_late(t: TestRedis) {
    let repo = accounts(&t, 1, 100).await;
    // A holder that stalls mid-work (a GC pause, a slow call) past its TTL.
    let stalled = repo.lock_with(&0, "edit", quick(300, 0)).await.unwrap();
    let start = Instant::now();
    let next = repo.lock_with(&0, "edit", quick(5000, 2000)).await.unwrap();
    let waited = start.elapsed();
    assert!(waited < Duration::from_millis(1000), "waited {waited:?}");
    let mut stalled = stalled;
    stalled.value_mut().balance = -1;
    assert!(matches!(stalled.save().await, Err(Error::LockLost { .. })));
    next.release().await.unwrap();
    assert_eq!(repo.fields(&0).balance().get().await.unwrap(), 100);

    // A holder whose task is aborted: its lock is released (or expires) without it.
    let holder = {
        let repo = repo.clone();
        tokio::spawn(async move {
            let _guard = repo.lock_with(&0, "edit", quick(400, 0)).await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    holder.abort();
    let start = Instant::now();
    let after = repo.lock_with(&0, "edit", quick(5000, 2000)).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    after.release().await.unwrap();
}

rapyer_tests::on_all!(the_watchdog_keeps_a_long_holder_s_lock);
async fn the_watchdog_keeps_a_long_holder_s_lock(t: TestRedis) {
    let repo = accounts(&t, 1, 0).await;
    let guard = repo
        .lock_with(&0, "long", quick(300, 0).watchdog(true))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(guard.lock().is_held().await.unwrap());
    assert!(!guard.lock().is_lost());
    assert!(matches!(
        repo.lock_with(&0, "long", quick(300, 100)).await,
        Err(Error::LockTimeout { .. })
    ));
    guard.save().await.unwrap();
    guard.release().await.unwrap();
}

rapyer_tests::on_all!(
    opposite_transfers_under_locks_preserve_the_total_without_deadlock,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn opposite_transfers_under_locks_preserve_the_total_without_deadlock(t: TestRedis) {
    const ACCOUNTS: i64 = 10;
    const TASKS: u64 = 16;
    const TRANSFERS: u64 = 600;
    let repo = accounts(&t, ACCOUNTS, 1_000).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (repo, client) = (repo.clone(), t.client.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(task);
                let mut done = 0;
                for _ in 0..TRANSFERS {
                    let from = rng.i64(0..ACCOUNTS);
                    let to = (from + rng.i64(1..ACCOUNTS)) % ACCOUNTS;
                    let amount = rng.i64(1..=300);
                    let opts = LockOptions::default().wait(Duration::from_secs(30));
                    let (a, b) = repo.lock_pair(&from, &to, "money", opts).await.unwrap();
                    if a.value().balance < amount {
                        a.release().await.unwrap();
                        b.release().await.unwrap();
                        continue;
                    }
                    let mut p = client.pipeline();
                    p.add(repo.fields(&from).balance().decr(amount));
                    p.add(repo.fields(&to).balance().incr(amount));
                    // Half the tasks release after the pipeline, half in it.
                    if task % 2 == 0 {
                        p.require_lock(a.lock()).require_lock(b.lock());
                        p.exec().await.unwrap();
                        a.release().await.unwrap();
                        b.release().await.unwrap();
                    } else {
                        p.release_after(a.into_lock()).release_after(b.into_lock());
                        p.exec().await.unwrap();
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let all = async {
        let mut done = 0;
        for task in tasks {
            done += task.await.unwrap();
        }
        done
    };
    let done = tokio::time::timeout(Duration::from_secs(240), all)
        .await
        .expect("transfers did not finish: deadlock?");
    let balances: Vec<i64> = {
        let pks: Vec<i64> = (0..ACCOUNTS).collect();
        repo.get_many(&pks)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.unwrap().balance)
            .collect()
    };
    assert_eq!(
        balances.iter().sum::<i64>(),
        ACCOUNTS * 1_000,
        "{balances:?}"
    );
    assert!(balances.iter().all(|b| *b >= 0), "{balances:?}");
    assert!(
        done > TASKS * TRANSFERS / 2,
        "only {done} transfers happened"
    );
    eprintln!(
        "{done} transfers in {:?}; balances {balances:?}",
        start.elapsed()
    );
}

rapyer_tests::on_all!(a_lock_set_over_two_models_is_all_or_nothing);
async fn a_lock_set_over_two_models_is_all_or_nothing(t: TestRedis) {
    let accounts = accounts(&t, 2, 0).await;
    let samples = Sample::repo(&t.client);
    samples.save(&empty_sample("s")).await.unwrap();

    let mut set = LockSet::new(&t.client);
    let a = set.add(&accounts, &1, "x").unwrap();
    let s = set.add(&samples, "s", "x").unwrap();
    let mut held = set.acquire(quick(5000, 0)).await.unwrap();
    let (ga, gs) = (held.take(a).unwrap(), held.take(s).unwrap());
    assert_eq!(gs.value().name, "s");

    // While the sample is locked, a set that needs it fails and leaves account 0 free.
    let mut set = LockSet::new(&t.client);
    set.add(&accounts, &0, "x").unwrap();
    set.add(&samples, "s", "x").unwrap();
    assert!(matches!(
        set.acquire(quick(5000, 100)).await,
        Err(Error::LockTimeout { .. })
    ));
    accounts
        .lock_with(&0, "x", quick(5000, 0))
        .await
        .expect("account 0 was left locked")
        .release()
        .await
        .unwrap();
    ga.release().await.unwrap();
    gs.release().await.unwrap();
}

rapyer_tests::on_all!(lock_errors_release_what_was_taken);
async fn lock_errors_release_what_was_taken(t: TestRedis) {
    let accounts = accounts(&t, 1, 0).await;
    // One instance of the set does not exist: NotFound, and the other lock is free again.
    let mut set = LockSet::new(&t.client);
    set.add(&accounts, &0, "x").unwrap();
    set.add(&accounts, &77, "x").unwrap();
    assert!(matches!(
        set.acquire(quick(5000, 0)).await,
        Err(Error::NotFound { .. })
    ));
    let guard = accounts.lock_with(&0, "x", quick(5000, 0)).await.unwrap();
    // A lock taken on another client cannot guard this client's pipeline.
    let other = t.builder().connect().await.unwrap();
    let mut p = other.pipeline();
    p.require_lock(guard.lock());
    p.add(Account::repo(&other).fields(&0).balance().incr(1));
    assert!(matches!(p.exec().await, Err(Error::Pipeline(_))));
    // Bad lock names are refused.
    assert!(matches!(
        accounts.lock(&0, "a{b}").await,
        Err(Error::Config(_))
    ));
    guard.release().await.unwrap();
    assert_eq!(accounts.fields(&0).balance().get().await.unwrap(), 0);
}

rapyer_tests::on_all!(locking_a_missing_instance_writes_nothing);
async fn locking_a_missing_instance_writes_nothing(t: TestRedis) {
    let repo = Account::repo(&t.client);
    let err = repo.lock(&42, "edit").await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref pk, .. } if pk == "42"),
        "{err}"
    );
    repo.insert(&Account::new(1)).await.unwrap();
    let err = repo
        .lock_pair(&1, &42, "transfer", quick(1000, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref pk, .. } if pk == "42"),
        "{err}"
    );
    // Only the existing instance's keys: no lock, no fencing memory of the missing pk, and the
    // lock taken on 1 before 42 was found missing is released.
    let keys = t.keys().await;
    assert!(keys.iter().all(|k| !k.contains("}:42")), "{keys:?}");
    assert!(repo.lock_with(&1, "transfer", quick(1000, 0)).await.is_ok());
}

rapyer_tests::on_all!(fences_grow_across_delete_and_recreate_and_no_key_is_left);
async fn fences_grow_across_delete_and_recreate_and_no_key_is_left(t: TestRedis) {
    let repo = accounts(&t, 3, 0).await;
    let mut last = 0;
    for round in 0..3 {
        for _ in 0..5 {
            let guard = repo.lock(&0, "edit").await.unwrap();
            assert!(guard.lock().fence() > last, "round {round}: not increasing");
            last = guard.lock().fence();
            guard.release().await.unwrap();
        }
        // A lock still held when its instance is deleted goes with it.
        let held = repo.lock_with(&0, "audit", quick(60_000, 0)).await.unwrap();
        assert!(repo.delete(&0).await.unwrap());
        assert!(!held.lock().is_held().await.unwrap());
        assert!(matches!(held.save().await, Err(Error::LockLost { .. })));
        repo.insert(&Account::new(0)).await.unwrap();
    }

    // Locks on an expiring instance expire with it (the fence hash has its TTL), and what the
    // instance left in its registry is purged.
    let counters = Counter::repo(&t.client);
    let c = Counter::new();
    counters.insert(&c).await.unwrap();
    // Held while the instance expires: the lock key goes after its own TTL.
    let _held = counters
        .lock_with(&c.counter_id, "bump", quick(300, 0))
        .await
        .unwrap();
    counters
        .expire(&c.counter_id, Duration::from_millis(150))
        .await
        .unwrap();
    // A lock of its own leaves nothing once it has expired.
    let own_key = format!(
        "{}job:nightly",
        t.namespace
            .as_deref()
            .map(|n| format!("{n}:"))
            .unwrap_or_default()
    );
    let own = rapyer::Lock::acquire(&t.client, &own_key, quick(300, 0))
        .await
        .unwrap();
    own.release().await.unwrap();
    for pk in 0..3 {
        let guard = repo.lock(&pk, "edit").await.unwrap();
        drop(guard); // released by a spawned task
        repo.delete(&pk).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        counters.purge_expired().await.unwrap();
        let keys = t.keys().await;
        if keys.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "keys left behind: {keys:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

rapyer_tests::on_all!(
    read_modify_write_under_a_lock_pair_loses_no_update,
    flavor = "multi_thread",
    worker_threads = 2
);
/// Each guard holds the instance as the previous holder left it (read after the locks were
/// taken, in the same round trip on one server): 16 tasks adding to two balances through
/// their guards' values lose nothing. On a private server, a lock pair is one lock script and
/// one read transaction.
async fn read_modify_write_under_a_lock_pair_loses_no_update(t: TestRedis) {
    const TASKS: i64 = 16;
    const ROUNDS: i64 = 40;
    let repo = accounts(&t, 2, 0).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let repo = repo.clone();
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let (from, to) = if task % 2 == 0 { (0, 1) } else { (1, 0) };
                    let opts = LockOptions::default().wait(Duration::from_secs(30));
                    let (mut a, mut b) = repo.lock_pair(&from, &to, "rmw", opts).await.unwrap();
                    a.value_mut().balance += 1;
                    b.value_mut().balance += 2;
                    a.save().await.unwrap();
                    b.save().await.unwrap();
                    a.release().await.unwrap();
                    b.release().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let both = repo.get_many(&[0, 1]).await.unwrap();
    let total: i64 = both.iter().map(|a| a.as_ref().unwrap().balance).sum();
    assert_eq!(total, TASKS * ROUNDS * 3);
    if t.server.is_some() {
        let before = t.atomic_steps().await;
        let (a, b) = repo.lock_pair(&0, &1, "rmw", quick(5000, 0)).await.unwrap();
        assert_eq!(
            t.atomic_steps().await - before,
            2,
            "lock script + read transaction"
        );
        assert_eq!(a.value().balance + b.value().balance, total);
        a.release().await.unwrap();
        b.release().await.unwrap();
    }
}

rapyer_tests::on_all!(release_after_gives_the_locks_up_whatever_the_outcome);
/// `Pipeline::release_after`: the locks are free once `exec` returns, whether the operations
/// applied (released by the same script on one server: one atomic step in all), failed, or
/// found a lock lost (whose new owner keeps it).
async fn release_after_gives_the_locks_up_whatever_the_outcome(t: TestRedis) {
    let repo = accounts(&t, 3, 10).await;
    // Applied: the locks go with the write.
    let (a, b) = repo
        .lock_pair(&0, &1, "move", quick(5000, 0))
        .await
        .unwrap();
    // The ops script loaded first (its first call on a server loads it: a step of its own).
    repo.fields(&2).balance().incr(0).await.unwrap();
    let private = t.server.is_some() && !t.is_cluster();
    let before = if private { t.atomic_steps().await } else { 0 };
    let mut p = t.client.pipeline();
    p.release_after(a.into_lock()).release_after(b.into_lock());
    p.add(repo.fields(&0).balance().decr(4));
    p.add(repo.fields(&1).balance().incr(4));
    p.exec().await.unwrap();
    if private {
        assert_eq!(
            t.atomic_steps().await - before,
            1,
            "write and release in one script"
        );
    }
    let (a, b) = repo
        .lock_pair(&0, &1, "move", quick(5000, 0))
        .await
        .expect("the locks were not released with the write");
    assert_eq!((a.value().balance, b.value().balance), (6, 14));

    // Failed (an instance is missing): nothing written, and the locks are free anyway.
    let mut p = t.client.pipeline();
    p.release_after(a.into_lock()).release_after(b.into_lock());
    p.add(repo.fields(&0).balance().decr(4));
    p.add(repo.fields(&77).balance().incr(4));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref pk, .. } if pk == "77"),
        "{err}"
    );
    let (a, b) = repo
        .lock_pair(&0, &1, "move", quick(5000, 0))
        .await
        .expect("the locks were not released after a failed pipeline");
    assert_eq!((a.value().balance, b.value().balance), (6, 14));
    a.release().await.unwrap();
    b.release().await.unwrap();

    // Lost: the lock expired and has a new owner; nothing written, the new owner keeps it.
    let stale = repo.lock_with(&2, "move", quick(100, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let owner = repo.lock_with(&2, "move", quick(5000, 0)).await.unwrap();
    let mut p = t.client.pipeline();
    p.release_after(stale.into_lock());
    p.add(repo.fields(&2).balance().incr(1));
    let err = p.exec().await.unwrap_err();
    assert!(matches!(err, Error::LockLost { .. }), "{err}");
    assert!(
        owner.lock().is_held().await.unwrap(),
        "the new owner lost it"
    );
    assert_eq!(repo.fields(&2).balance().get().await.unwrap(), 10);
    owner.release().await.unwrap();

    // A lock of its own (released to a marker, not deleted) is released after the write, and
    // its next holder's fence is larger; a pipeline with no operation releases its locks too.
    let key = format!("{}:own-lock", repo.lock_key(&0, "x").unwrap());
    let own = rapyer::Lock::acquire(&t.client, &key, quick(5000, 0))
        .await
        .unwrap();
    let fence = own.fence();
    let mut p = t.client.pipeline();
    p.release_after(own);
    p.add(repo.fields(&0).balance().incr(1));
    p.exec().await.unwrap();
    let again = rapyer::Lock::acquire(&t.client, &key, quick(5000, 0))
        .await
        .expect("a lock of its own was not released");
    assert!(again.fence() > fence);
    let mut p = t.client.pipeline();
    p.release_after(again);
    p.exec().await.unwrap();
    rapyer::Lock::acquire(&t.client, &key, quick(5000, 0))
        .await
        .expect("a pipeline with no operation kept its lock")
        .release()
        .await
        .unwrap();
    assert_eq!(repo.fields(&0).balance().get().await.unwrap(), 7);
}

rapyer_tests::on_all!(release_all_gives_up_several_locks_in_one_call);
/// `Lock::release_all`: the locks on instances of one server go in one script call; a lost
/// lock is reported after every other lock is released, and its new owner keeps it.
async fn release_all_gives_up_several_locks_in_one_call(t: TestRedis) {
    let repo = accounts(&t, 3, 0).await;
    let (a, b) = repo
        .lock_pair(&0, &1, "trade", quick(5000, 0))
        .await
        .unwrap();
    let private = t.server.is_some() && !t.is_cluster();
    let before = if private { t.atomic_steps().await } else { 0 };
    rapyer::Lock::release_all([a.into_lock(), b.into_lock()])
        .await
        .unwrap();
    if private {
        assert_eq!(t.atomic_steps().await - before, 1, "one release call");
    }
    let (a, b) = repo
        .lock_pair(&0, &1, "trade", quick(5000, 0))
        .await
        .expect("the pair was not released");

    // One lock lost to a new owner, beside the pair and a lock of its own.
    let stale = repo.lock_with(&2, "trade", quick(100, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let owner = repo.lock_with(&2, "trade", quick(5000, 0)).await.unwrap();
    let own_key = format!("{}:own", repo.lock_key(&0, "x").unwrap());
    let own = rapyer::Lock::acquire(&t.client, &own_key, quick(5000, 0))
        .await
        .unwrap();
    let locks = [a.into_lock(), stale.into_lock(), own, b.into_lock()];
    let err = rapyer::Lock::release_all(locks).await.unwrap_err();
    let lost = repo.lock_key(&2, "trade").unwrap();
    assert!(
        matches!(err, Error::LockLost { ref key } if *key == lost),
        "{err}"
    );
    assert!(
        owner.lock().is_held().await.unwrap(),
        "the new owner lost it"
    );
    repo.lock_pair(&0, &1, "trade", quick(5000, 0))
        .await
        .expect("the pair was not released beside a lost lock");
    rapyer::Lock::acquire(&t.client, &own_key, quick(5000, 0))
        .await
        .expect("the lock of its own was not released");
    owner.release().await.unwrap();
    rapyer::Lock::release_all([]).await.unwrap();
}
