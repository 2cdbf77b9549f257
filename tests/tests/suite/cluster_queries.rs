//! Every query of a bucketed model on a cluster gives what one server gives, ties included: the
//! same data loaded into both, at 1,000 and at 100,000 instances.

use std::sync::Arc;

use rapyer_tests::fixtures::indexes::{Board, BoardRepo, Region};
use rapyer_tests::harness::TestRedis;

const REGIONS: [Region; 3] = [Region::Eu, Region::Us, Region::Asia];

/// Inserts boards `from..to` (named `b<i>`), with many tied scores.
async fn grow(boards: &BoardRepo, from: usize, to: usize, distinct_scores: i64) {
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let boards = boards.clone();
            tokio::spawn(async move {
                for i in (from + task..to).step_by(32) {
                    let mut b = Board::new(format!("b{i:06}"));
                    b.score = (i as i64).wrapping_mul(7919) % distinct_scores - distinct_scores / 2;
                    b.region = REGIONS[i % 3];
                    boards.insert(&b).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Every query, asked of both; `n` instances are loaded.
async fn same_answers(one: &BoardRepo, many: &BoardRepo, n: usize, distinct_scores: i64) {
    let (a, b) = (one.by_score(), many.by_score());
    assert_eq!(a.len().await.unwrap(), n as u64);
    assert_eq!(b.len().await.unwrap(), n as u64);
    for k in [1, 10, 100, 1000] {
        assert_eq!(a.top(k).await.unwrap(), b.top(k).await.unwrap(), "top {k}");
        assert_eq!(
            a.bottom(k).await.unwrap(),
            b.bottom(k).await.unwrap(),
            "bottom {k}"
        );
    }
    let half = distinct_scores / 2;
    for (min, max, offset, limit) in [
        (-half, half, 0, 50),
        (-half, half, 200, 50),
        (-3, 3, 10, 1000),
        (0, 0, 0, 10_000),
        (half, half + 10, 0, 10),
    ] {
        assert_eq!(
            a.range(min, max, offset, limit).await.unwrap(),
            b.range(min, max, offset, limit).await.unwrap(),
            "range [{min}, {max}] offset {offset} limit {limit}"
        );
        assert_eq!(
            a.count(min, max).await.unwrap(),
            b.count(min, max).await.unwrap()
        );
    }
    let mut rng = fastrand::Rng::with_seed(n as u64);
    for _ in 0..40 {
        let pk = format!("b{:06}", rng.usize(0..n));
        assert_eq!(
            a.rank(pk.as_str()).await.unwrap(),
            b.rank(pk.as_str()).await.unwrap(),
            "rank of {pk}"
        );
        assert_eq!(
            a.around(pk.as_str(), 5).await.unwrap(),
            b.around(pk.as_str(), 5).await.unwrap(),
            "around {pk}"
        );
    }
    assert_eq!(a.rank("missing").await.unwrap(), None);
    assert_eq!(b.rank("missing").await.unwrap(), None);
    for region in REGIONS {
        assert_eq!(
            one.by_region().count(region).await.unwrap(),
            many.by_region().count(region).await.unwrap()
        );
        for (offset, limit) in [(0, 20), (500, 20), (0, 5000)] {
            assert_eq!(
                one.by_region().find(region, offset, limit).await.unwrap(),
                many.by_region().find(region, offset, limit).await.unwrap(),
                "{region:?} offset {offset} limit {limit}"
            );
        }
    }
    assert_eq!(one.count().await.unwrap(), many.count().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_on_a_cluster_equal_one_server_at_1k_and_100k_instances() {
    let single = TestRedis::new().await;
    let cluster = TestRedis::cluster().await;
    let one = Arc::new(Board::repo(&single.client));
    let many = Arc::new(Board::repo(&cluster.client));
    let mut have = 0;
    for (n, distinct) in [(1_000, 50), (100_000, 2_000)] {
        grow(&one, have, n, distinct).await;
        grow(&many, have, n, distinct).await;
        have = n;
        same_answers(&one, &many, n, distinct).await;
    }
}
