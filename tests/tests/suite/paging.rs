//! Keyset paging and streams, on one server and on a cluster: a walk by cursor sees every
//! instance that lives through it exactly once, whatever is inserted and deleted meanwhile, and
//! pages agree with the offset queries.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rapyer::futures_util::StreamExt;
use rapyer::{Cursor, Page};
use rapyer_tests::fixtures::indexes::{Gamer, Region};
use rapyer_tests::fixtures::keys_and_ttl::Wallet;
use rapyer_tests::harness::TestRedis;

/// Instances that live through the walk, and instances deleted during it.
const LASTING: usize = 100_000;
const CHURN: usize = 5_000;

rapyer_tests::on_both!(
    a_cursor_walk_sees_each_lasting_instance_once_while_others_come_and_go,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn a_cursor_walk_sees_each_lasting_instance_once_while_others_come_and_go(t: TestRedis) {
    let wallets = Wallet::repo(&t.client);
    let names: Vec<String> = (0..LASTING)
        .map(|i| format!("keep{i:06}"))
        .chain((0..CHURN).map(|i| format!("churn{i:05}")))
        .collect();
    let names = Arc::new(names);
    let loaders: Vec<_> = (0..32)
        .map(|task| {
            let (wallets, names) = (wallets.clone(), Arc::clone(&names));
            tokio::spawn(async move {
                for name in names.iter().skip(task).step_by(32) {
                    wallets.insert(&Wallet::new(name.clone())).await.unwrap();
                }
            })
        })
        .collect();
    for l in loaders {
        l.await.unwrap();
    }
    assert_eq!(wallets.count().await.unwrap(), (LASTING + CHURN) as u64);

    // While the walk runs, churn instances are deleted and new ones inserted.
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (wallets, stop) = (wallets.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < CHURN {
                wallets
                    .delete(format!("churn{i:05}").as_str())
                    .await
                    .unwrap();
                wallets
                    .insert(&Wallet::new(format!("new{i:05}")))
                    .await
                    .unwrap();
                i += 1;
            }
            i
        })
    };
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut after: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let Page { items, next } = wallets.page(after.as_ref(), 1_000).await.unwrap();
        pages += 1;
        for pk in items {
            *seen.entry(pk).or_default() += 1;
        }
        // A cursor survives its text form (as it would through a web API).
        after = match next {
            Some(c) => Some(c.to_string().parse().unwrap()),
            None => break,
        };
    }
    stop.store(true, Ordering::Relaxed);
    let churned = churner.await.unwrap();
    assert!(churned > 0, "the walk ended before any churn");
    assert!(pages >= LASTING / 1_000, "{pages} pages");
    assert!(seen.values().all(|n| *n == 1), "an instance was seen twice");
    for i in 0..LASTING {
        assert!(
            seen.contains_key(&format!("keep{i:06}")),
            "keep{i:06} missed"
        );
    }
    for pk in seen.keys() {
        assert!(
            pk.starts_with("keep") || pk.starts_with("churn") || pk.starts_with("new"),
            "{pk}"
        );
    }
    eprintln!(
        "{pages} pages, {} seen, {churned} churned during the walk",
        seen.len()
    );
}

rapyer_tests::on_all!(pages_of_an_index_agree_with_its_offset_queries);
async fn pages_of_an_index_agree_with_its_offset_queries(t: TestRedis) {
    let gamers = Gamer::repo(&t.client);
    let regions = [Region::Eu, Region::Us, Region::Asia];
    for i in 0..300i64 {
        let mut g = Gamer::new(format!("g{i:03}"), format!("g{i}@x"));
        // Many ties, spread over the buckets.
        g.score = i % 17 - 8;
        g.region = regions[(i % 3) as usize];
        gamers.insert(&g).await.unwrap();
    }
    let index = gamers.by_score();
    for (min, max) in [(-8, 8), (-3, 2), (5, 5), (9, 20)] {
        let everything = index.range(min, max, 0, 10_000).await.unwrap();
        for limit in [1, 7, 50] {
            let mut walked = Vec::new();
            let mut after: Option<Cursor> = None;
            loop {
                let page = index
                    .range_page(min, max, after.as_ref(), limit)
                    .await
                    .unwrap();
                assert!(page.items.len() <= limit);
                walked.extend(page.items);
                match page.next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            assert_eq!(walked, everything, "[{min}, {max}] by {limit}");
        }
        // The stream reads the instances of the same walk.
        let streamed: Vec<String> = index
            .stream(min, max, 9)
            .map(|g| g.unwrap().handle)
            .collect()
            .await;
        assert_eq!(streamed, everything, "stream [{min}, {max}]");
    }
    for region in regions {
        let everything = gamers.by_region().find(region, 0, 10_000).await.unwrap();
        assert_eq!(everything.len(), 100);
        let mut walked = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = gamers
                .by_region()
                .find_page(region, after.as_ref(), 13)
                .await
                .unwrap();
            walked.extend(page.items);
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(walked, everything, "{region:?}");
    }
    // The whole model, streamed: every instance once.
    let all: BTreeSet<String> = gamers.stream(64).map(|g| g.unwrap().handle).collect().await;
    assert_eq!(all.len(), 300);
}
