//! Leaderboard queries of a bucketed model (`Board`: 16 buckets, a sorted index on `score`) on
//! one server and on a 3-master cluster loaded with the same data, in the same run, at growing
//! N: `top(10)`, `top_instances(10)`, `rank`, `around(pk, 5)`, a keyset page of 100 from the
//! middle of the index (`range_page`) and an offset page (`range`, offset 1,000). Beside them, raw
//! redis-rs `ZREVRANGE 0 9` and `ZREVRANK` of one sorted set holding the same scores on the same
//! deployment: the one-key, one-round-trip floor that a merge over 16 buckets is measured against.
//!
//! Every figure is the median latency of sequential calls from one task over TCP. Each
//! deployment's answers are checked against the other's before they are timed.
//!
//! `cargo bench -p rapyer-tests --bench queries` runs N = 1k, 100k and 1M and writes
//! `target/bench/queries.json`; under `cargo test` it runs N = 100 and 1,000 as a smoke test.

use std::time::Instant;

use rapyer::{Client, Connection};
use rapyer_tests::fixtures::indexes::{Board, BoardRepo};
use rapyer_tests::harness::{RedisCluster, RedisServer, Transport};

/// The raw sorted set mirroring the index (one hash slot, wherever it lands).
const RAW_KEY: &str = "raw:board";
/// Distinct scores: many ties, as in a real game.
const SCORES: i64 = 100_000;

fn name(i: usize) -> String {
    format!("b{i:07}")
}

fn score(i: usize) -> i64 {
    (i as i64).wrapping_mul(2_654_435_761) % SCORES - SCORES / 2
}

/// Inserts boards `from..to` from 64 tasks, and mirrors their scores into the raw sorted set.
async fn grow(boards: &BoardRepo, raw: &Connection, from: usize, to: usize) {
    const TASKS: usize = 64;
    let handles: Vec<_> = (0..TASKS)
        .map(|task| {
            let boards = boards.clone();
            tokio::spawn(async move {
                for i in (from + task..to).step_by(TASKS) {
                    let mut b = Board::new(name(i));
                    b.score = score(i);
                    boards.insert(&b).await.expect("insert");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("insert task");
    }
    let mut raw = raw.clone();
    for chunk in (from..to).collect::<Vec<_>>().chunks(1_000) {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(RAW_KEY);
        for &i in chunk {
            zadd.arg(score(i)).arg(name(i));
        }
        let _: i64 = zadd.query_async(&mut raw).await.expect("ZADD");
    }
}

/// Median milliseconds of `runs` sequential calls of `f(run)`.
async fn median_ms<F, Fut>(runs: usize, mut f: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let start = Instant::now();
        f(run).await;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// One deployment: the repository and a raw connection to the same servers.
struct Deployment {
    label: &'static str,
    boards: BoardRepo,
    raw: Connection,
}

/// The timed queries of one deployment at `n` instances.
async fn measure(d: &Deployment, n: usize, runs: usize) -> serde_json::Value {
    let index = d.boards.by_score();
    // Pks to rank, the same sequence on both deployments.
    let pks: Vec<String> = {
        let mut rng = fastrand::Rng::with_seed(n as u64);
        (0..runs).map(|_| name(rng.usize(0..n))).collect()
    };
    let middle = index
        .range_page(0, SCORES, None, 10)
        .await
        .expect("range_page")
        .next
        .expect("a second page");

    let top10 = median_ms(runs, |_| async {
        assert_eq!(index.top(10).await.expect("top").len(), 10);
    })
    .await;
    let top10_instances = median_ms(runs, |_| async {
        assert_eq!(index.top_instances(10).await.expect("top").len(), 10);
    })
    .await;
    let rank = median_ms(runs, |run| {
        let (index, pk) = (&index, &pks[run]);
        async move {
            index
                .rank(pk.as_str())
                .await
                .expect("rank")
                .expect("ranked");
        }
    })
    .await;
    let around = median_ms(runs, |run| {
        let (index, pk) = (&index, &pks[run]);
        async move {
            assert!(
                !index
                    .around(pk.as_str(), 5)
                    .await
                    .expect("around")
                    .is_empty()
            );
        }
    })
    .await;
    let keyset_page = median_ms(runs, |_| async {
        let page = index
            .range_page(0, SCORES, Some(&middle), 100)
            .await
            .expect("range_page");
        assert_eq!(
            page.items.len(),
            if n >= 1_000 {
                100
            } else {
                page.items.len().max(1)
            }
        );
    })
    .await;
    let offset = 1_000.min(n / 4);
    let offset_page = median_ms(runs, |_| async {
        let page = index
            .range(-SCORES, SCORES, offset, 100)
            .await
            .expect("range");
        assert_eq!(page.len(), 100.min(n - offset));
    })
    .await;
    let raw_top10 = median_ms(runs, |_| {
        let mut raw = d.raw.clone();
        async move {
            let top: Vec<(String, i64)> = redis::cmd("ZREVRANGE")
                .arg(RAW_KEY)
                .arg(0)
                .arg(9)
                .arg("WITHSCORES")
                .query_async(&mut raw)
                .await
                .expect("ZREVRANGE");
            assert_eq!(top.len(), 10);
        }
    })
    .await;
    let raw_rank = median_ms(runs, |run| {
        let (mut raw, pk) = (d.raw.clone(), &pks[run]);
        async move {
            let rank: Option<u64> = redis::cmd("ZREVRANK")
                .arg(RAW_KEY)
                .arg(pk)
                .query_async(&mut raw)
                .await
                .expect("ZREVRANK");
            assert!(rank.is_some());
        }
    })
    .await;
    println!(
        "{:>9} {:<11} {top10:>7.3} {top10_instances:>9.3} {rank:>7.3} {around:>7.3} {keyset_page:>9.3} {offset_page:>9.3} {raw_top10:>9.3} {raw_rank:>9.3}",
        n, d.label
    );
    serde_json::json!({
        "instances": n,
        "deployment": d.label,
        "top10_ms": top10,
        "top10_instances_ms": top10_instances,
        "rank_ms": rank,
        "around5_ms": around,
        "keyset_page100_ms": keyset_page,
        "offset_page100_ms": offset_page,
        "offset": offset,
        "raw_zrevrange_top10_ms": raw_top10,
        "raw_zrevrank_ms": raw_rank,
    })
}

/// The two deployments answer alike (ties included) before anything is timed.
async fn same_answers(a: &BoardRepo, b: &BoardRepo, n: usize) {
    let (a, b) = (a.by_score(), b.by_score());
    assert_eq!(a.len().await.unwrap(), n as u64);
    assert_eq!(b.len().await.unwrap(), n as u64);
    assert_eq!(a.top(100).await.unwrap(), b.top(100).await.unwrap());
    for i in [0, n / 3, n - 1] {
        let pk = name(i);
        assert_eq!(
            a.rank(pk.as_str()).await.unwrap(),
            b.rank(pk.as_str()).await.unwrap()
        );
        assert_eq!(
            a.around(pk.as_str(), 5).await.unwrap(),
            b.around(pk.as_str(), 5).await.unwrap()
        );
    }
    assert_eq!(
        a.range(-SCORES, SCORES, n / 4, 100).await.unwrap(),
        b.range(-SCORES, SCORES, n / 4, 100).await.unwrap()
    );
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (sizes, runs): (&[usize], usize) = if full {
        (&[1_000, 100_000, 1_000_000], 201)
    } else {
        (&[100, 1_000], 5)
    };
    let server = RedisServer::start(Transport::Tcp);
    let cluster = RedisCluster::start(3, 0);
    let single = Client::connect(&server.url).await.expect("connect");
    let many = Client::connect_cluster(&cluster.urls())
        .await
        .expect("connect cluster");
    let deployments = [
        Deployment {
            label: "one server",
            boards: Board::repo(&single),
            raw: single.connection(),
        },
        Deployment {
            label: "3-master",
            boards: Board::repo(&many),
            raw: many.connection(),
        },
    ];

    println!(
        "leaderboard queries of a 16-bucket model: median ms of {runs} sequential calls (TCP), beside raw ZREVRANGE/ZREVRANK of one key"
    );
    println!(
        "{:>9} {:<11} {:>7} {:>9} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "instances",
        "deployment",
        "top10",
        "top10+read",
        "rank",
        "around5",
        "keyset100",
        "offset100",
        "raw top10",
        "raw rank"
    );
    let mut rows = Vec::new();
    let mut have = 0;
    for &n in sizes {
        for d in &deployments {
            grow(&d.boards, &d.raw, have, n).await;
        }
        have = n;
        same_answers(&deployments[0].boards, &deployments[1].boards, n).await;
        for d in &deployments {
            rows.push(measure(d, n, runs).await);
        }
    }
    if full {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let text = serde_json::to_string_pretty(&rows).expect("json");
        std::fs::write(dir.join("queries.json"), text).expect("write json");
    }
}
