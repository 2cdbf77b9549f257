//! Behaviour specific to Redis Cluster: the connection, slot checks, redirects and faults, on
//! private clusters started by the test. (The general suites run on a cluster too, through
//! `on_both!`.)

use rapyer::Error;
use rapyer_tests::fixtures::all_types::Sample;
use rapyer_tests::fixtures::keys_and_ttl::{Account, Counter};
use rapyer_tests::harness::TestRedis;
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
    assert_eq!(accounts.balance(&1).incr(5).await.unwrap(), 5);
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
    p.add(accounts.balance(&1).incr(1));
    p.add(accounts.balance(&2).incr(1));
    p.exec().await.unwrap();
    // A counter and an account live in different slots (they are in no common slot group).
    let counters = Counter::repo(&t.client);
    let c = Counter::new();
    counters.insert(&c).await.unwrap();
    let mut p = t.client.pipeline();
    p.add(accounts.balance(&3).incr(1));
    p.add(counters.value(&c.counter_id).incr(1));
    let err = p.exec().await.unwrap_err();
    assert!(
        matches!(err, Error::CrossSlot { ref slots } if slots.len() == 2),
        "{err}"
    );
    assert_eq!(accounts.balance(&3).get().await.unwrap(), 0);
    assert_eq!(counters.value(&c.counter_id).get().await.unwrap(), 0);
}
