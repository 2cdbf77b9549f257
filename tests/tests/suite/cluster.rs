//! Behaviour specific to Redis Cluster: the connection, slot checks, redirects and faults, on
//! private clusters started by the test. (The general suites run on a cluster too, through
//! `on_both!`.)

use std::ops::Not;
use std::time::Duration;

use rapyer::__private::ClaimFault;
use rapyer::Error;
use rapyer_tests::fixtures::all_types::Sample;
use rapyer_tests::fixtures::indexes::Gamer;
use rapyer_tests::fixtures::keys_and_ttl::{Account, Counter};
use rapyer_tests::harness::{TestRedis, shared_cluster};
use rapyer_tests::samples::full_sample;

#[tokio::test]
async fn a_cluster_client_reads_and_writes_like_a_single_server_one() {
    let t = TestRedis::cluster().await;
    assert!(t.client.is_cluster());
    let repo = Sample::repo(&t.client);
    for pk in ["a", "b", "c", "d"] {
        repo.insert(&full_sample(pk)).await.unwrap();
    }
    let a = repo.get("a").await.unwrap().unwrap();
    assert_eq!((a.name.as_str(), a.count), ("a", full_sample("a").count));
    assert_eq!(repo.count().await.unwrap(), 4);
    let many = repo.get_many(["a", "zz", "d"]).await.unwrap();
    assert_eq!(many[0].as_ref().map(|s| s.name.as_str()), Some("a"));
    assert!(many[1].is_none());
    assert_eq!(many[2].as_ref().map(|s| s.name.as_str()), Some("d"));
    let accounts = Account::repo(&t.client);
    accounts.insert(&Account::new(1)).await.unwrap();
    assert_eq!(accounts.fields(&1).balance().incr(5).await.unwrap(), 5);
    assert!(repo.delete("a").await.unwrap());
    assert_eq!(repo.count().await.unwrap(), 3);
}

#[tokio::test]
async fn a_pipeline_across_slots_is_refused_before_anything_is_sent() {
    let t = TestRedis::cluster().await;
    let accounts = Account::repo(&t.client);
    // Accounts have one bucket: every account shares one slot, so any pipeline of them is fine.
    for n in 1..=3 {
        accounts.insert(&Account::new(n)).await.unwrap();
    }
    let mut p = t.client.pipeline();
    p.add(accounts.fields(&1).balance().incr(1));
    p.add(accounts.fields(&2).balance().incr(1));
    p.exec().await.unwrap();
    // A counter and an account live in different slots (they are in no common slot group).
    let counters = Counter::repo(&t.client);
    let c = Counter::new();
    counters.insert(&c).await.unwrap();
    let mut p = t.client.pipeline();
    p.add(accounts.fields(&3).balance().incr(1));
    p.add(counters.fields(&c.counter_id).value().incr(1));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::CrossSlot { ref slots } if slots.len() == 2),
        "{err}"
    );
    assert_eq!(accounts.fields(&3).balance().get().await.unwrap(), 0);
    assert_eq!(
        counters.fields(&c.counter_id).value().get().await.unwrap(),
        0
    );
}

/// Two clients on one namespace of the shared cluster: `crashing` stops (or pauses) at `fault`
/// in the claim protocol; `other` behaves. Both hold reserved unique values for `lease`.
async fn claim_clients(fault: ClaimFault, lease: Duration) -> (TestRedis, rapyer::Client) {
    let t = TestRedis::on_cluster(shared_cluster().urls(), |urls| {
        rapyer::Client::cluster_builder(urls).unique_lease(lease)
    })
    .await;
    let crashing = rapyer::Client::cluster_builder(&t.cluster_urls)
        .namespace(t.namespace.clone().unwrap())
        .unique_lease(lease)
        .simulate_claim_fault(fault)
        .connect()
        .await
        .unwrap();
    (t, crashing)
}

fn is_violation(r: &rapyer::Result<()>) -> bool {
    matches!(r, Err(Error::UniqueViolation { .. }))
}

#[tokio::test]
async fn uniqueness_holds_when_a_writer_dies_after_reserving() {
    let lease = Duration::from_millis(400);
    let (t, crashing) = claim_clients(ClaimFault::CrashAfterReserve, lease).await;
    let (dead, alive) = (Gamer::repo(&crashing), Gamer::repo(&t.client));
    let err = dead.insert(&Gamer::new("a", "x@x")).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
    assert!(!alive.exists("a").await.unwrap(), "nothing was written");
    // The value stays reserved until the lease ends...
    assert!(is_violation(&alive.insert(&Gamer::new("b", "x@x")).await));
    assert_eq!(alive.get_by_email("x@x").await.unwrap(), None);
    // ...then the next writer finds the holder without it and takes it over.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    alive.insert(&Gamer::new("b", "x@x")).await.unwrap();
    assert_eq!(
        alive.get_by_email("x@x").await.unwrap().unwrap().handle,
        "b"
    );
    assert!(alive.reindex().await.unwrap().conflicts.is_empty());
}

#[tokio::test]
async fn uniqueness_holds_when_a_writer_dies_after_writing() {
    let lease = Duration::from_millis(400);
    let (t, crashing) = claim_clients(ClaimFault::CrashAfterWrite, lease).await;
    let (dead, alive) = (Gamer::repo(&crashing), Gamer::repo(&t.client));
    let err = dead.insert(&Gamer::new("c", "y@x")).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
    assert_eq!(
        alive.fields("c").email().get().await.unwrap(),
        "y@x",
        "the write landed"
    );
    // Readers see the holder (it has the value), writers get a violation, during the lease...
    assert_eq!(
        alive.get_by_email("y@x").await.unwrap().unwrap().handle,
        "c"
    );
    assert!(is_violation(&alive.insert(&Gamer::new("d", "y@x")).await));
    // ...and after it: the holder has the value, so its claim is committed for it.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert!(is_violation(&alive.insert(&Gamer::new("d", "y@x")).await));
    assert!(is_violation(&alive.fields("c").email().set("y@x").await.map(|_| ())).not());
    assert_eq!(
        alive.get_by_email("y@x").await.unwrap().unwrap().handle,
        "c"
    );
    assert!(alive.reindex().await.unwrap().conflicts.is_empty());
}

#[tokio::test]
async fn uniqueness_holds_when_a_writer_dies_before_releasing_the_old_value() {
    let lease = Duration::from_millis(400);
    let (t, crashing) = claim_clients(ClaimFault::CrashAfterConfirm, lease).await;
    let (dead, alive) = (Gamer::repo(&crashing), Gamer::repo(&t.client));
    alive.insert(&Gamer::new("e", "old@x")).await.unwrap();
    // The change lands and is confirmed; the old value's claim is left behind.
    let err = dead.fields("e").email().set("new@x").await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
    assert_eq!(alive.fields("e").email().get().await.unwrap(), "new@x");
    assert_eq!(
        alive.get_by_email("new@x").await.unwrap().unwrap().handle,
        "e"
    );
    // Readers never answer the stale claim; the next writer takes it over at once.
    assert_eq!(alive.get_by_email("old@x").await.unwrap(), None);
    alive.insert(&Gamer::new("f", "old@x")).await.unwrap();
    assert_eq!(
        alive.get_by_email("old@x").await.unwrap().unwrap().handle,
        "f"
    );
    assert!(alive.reindex().await.unwrap().conflicts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_delayed_past_its_lease_is_refused_and_the_value_taken_over() {
    let lease = Duration::from_millis(400);
    let (t, slow) = claim_clients(ClaimFault::DelayWrite(lease * 2), lease).await;
    let (late, alive) = (Gamer::repo(&slow), Gamer::repo(&t.client));
    let writer = tokio::spawn(async move { late.insert(&Gamer::new("g", "w@x")).await });
    tokio::time::sleep(lease + Duration::from_millis(150)).await;
    // The reservation expired and its holder has no instance: taken over.
    alive.insert(&Gamer::new("h", "w@x")).await.unwrap();
    let err = writer.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::LeaseExpired { .. }), "{err}");
    assert!(
        !alive.exists("g").await.unwrap(),
        "the late write was refused"
    );
    assert_eq!(
        alive.get_by_email("w@x").await.unwrap().unwrap().handle,
        "h"
    );
    assert!(alive.reindex().await.unwrap().conflicts.is_empty());
}

rapyer_tests::on_both!(exec_split_applies_each_slot_group_on_its_own);
async fn exec_split_applies_each_slot_group_on_its_own(t: TestRedis) {
    let accounts = Account::repo(&t.client);
    let counters = Counter::repo(&t.client);
    accounts.insert(&Account::new(1)).await.unwrap();
    let c = Counter::new();
    counters.insert(&c).await.unwrap();
    let mut p = t.client.pipeline();
    let a = p.add(accounts.fields(&1).balance().incr(7));
    let b = p.add(counters.fields(&c.counter_id).value().incr(3));
    let mut r = p.exec_split().await.unwrap();
    assert!(r.all_applied());
    let expected_groups = if t.is_cluster() { 2 } else { 1 };
    assert_eq!(r.groups().len(), expected_groups);
    assert_eq!((r.take(a).unwrap(), r.take(b).unwrap()), (7, 3));

    // A group that fails applies nothing of itself and does not stop the others.
    let mut p = t.client.pipeline();
    let a = p.add(accounts.fields(&1).balance().incr(1));
    p.add(accounts.fields(&404).balance().incr(1));
    let b = p.add(counters.fields(&c.counter_id).value().incr(1));
    let mut r = p.exec_split().await.unwrap();
    assert!(!r.all_applied());
    let failed: Vec<&rapyer::Group> = r
        .groups()
        .iter()
        .filter(|g| {
            matches!(
                g.outcome,
                rapyer::GroupOutcome::Failed(Error::NotFound { .. })
            )
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].ops.contains(&1) && failed[0].ops.contains(&0));
    assert!(r.take(a).is_err(), "its group was not applied");
    assert_eq!(accounts.fields(&1).balance().get().await.unwrap(), 7);
    if t.is_cluster() {
        assert_eq!(r.take(b).unwrap(), 4);
    } else {
        assert!(r.take(b).is_err());
        assert_eq!(
            counters.fields(&c.counter_id).value().get().await.unwrap(),
            3
        );
    }
}
