//! A leaderboard's top 10 at growing N: through the sorted index (O(log N + 10)) against loading
//! every player and sorting on the client (O(N), what rapyer's Python ancestor does).
//!
//! `cargo bench -p rapyer-tests --bench indexes` runs N = 1k, 10k, 100k and 1M on a private
//! redis-server and writes `target/bench/indexes.json`; under `cargo test` it runs N = 100 and
//! 1,000 as a smoke test.

use std::time::Instant;

use rapyer_example::generated::{Player, PlayerRepo, PlayerStats};
use rapyer_tests::harness::{RedisServer, Transport};

/// Inserts players until there are `n`, from 64 tasks.
async fn grow(players: &PlayerRepo, from: usize, to: usize) {
    const TASKS: usize = 64;
    let handles: Vec<_> = (0..TASKS)
        .map(|task| {
            let players = players.clone();
            tokio::spawn(async move {
                for i in (from + task..to).step_by(TASKS) {
                    let mut p = Player::new(format!("player{i}"), PlayerStats::new(0, 0, 0, 0.0));
                    // Scores with many ties, as in a real game.
                    p.score = ((i as u64).wrapping_mul(2_654_435_761) % 100_000) as i64;
                    players.insert(&p).await.expect("insert");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("insert task");
    }
}

/// Median seconds of `runs` runs of `f`.
async fn median_secs<F, Fut, T>(runs: usize, mut f: F) -> (f64, T)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f().await);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], last.expect("at least one run"))
}

/// The naive leaderboard: every player loaded, sorted by score (ties by pk, as the index does).
async fn load_all_and_sort(players: &PlayerRepo) -> Vec<Player> {
    let pks = players.all().await.expect("all");
    let mut all = Vec::with_capacity(pks.len());
    for chunk in pks.chunks(1_000) {
        all.extend(
            players
                .get_many(chunk)
                .await
                .expect("get_many")
                .into_iter()
                .flatten(),
        );
    }
    all.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(b.id.to_string().cmp(&a.id.to_string()))
    });
    all.truncate(10);
    all
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[1_000, 10_000, 100_000, 1_000_000]
    } else {
        &[100, 1_000]
    };
    let server = RedisServer::start(Transport::Unix);
    let db = rapyer::Client::connect(&server.url).await.expect("connect");
    let players = Player::repo(&db);

    println!("leaderboard top 10: sorted index vs load-everything-and-sort (unix socket)");
    println!(
        "{:>10} {:>14} {:>16} {:>12} {:>10} {:>12}",
        "players", "index (ms)", "index+read (ms)", "naive (ms)", "speedup", "raw (ms)"
    );
    let mut json = Vec::new();
    let mut have = 0;
    for &n in sizes {
        grow(&players, have, n).await;
        have = n;
        let index = players.by_score();
        let (pk_secs, top) = median_secs(51, || index.top(10)).await;
        // The floor: a bare ZREVRANGE of the same index key on the same connection.
        let key = db.keys().index(
            &<Player as rapyer::Model>::META,
            rapyer::__private::IndexKind::SortedInt,
            "score",
            0,
        );
        let (raw_secs, raw_top) = median_secs(51, || {
            let (mut conn, key) = (db.connection(), key.clone());
            async move {
                redis::cmd("ZREVRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(9)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
            }
        })
        .await;
        assert_eq!(raw_top.expect("ZREVRANGE").len(), 10);
        let (full_secs, top_players) = median_secs(51, || index.top_instances(10)).await;
        let naive_runs = if n >= 100_000 { 3 } else { 11 };
        let (naive_secs, naive) = median_secs(naive_runs, || load_all_and_sort(&players)).await;
        let top = top.expect("top");
        let top_players = top_players.expect("top_instances");
        assert_eq!(top.len(), 10);
        assert_eq!(
            naive.iter().map(|p| p.id).collect::<Vec<_>>(),
            top,
            "the index and the brute force disagree"
        );
        assert_eq!(top_players, naive);
        let speedup = naive_secs / full_secs;
        println!(
            "{n:>10} {:>14.3} {:>16.3} {:>12.1} {speedup:>9.0}x {:>12.3}",
            pk_secs * 1e3,
            full_secs * 1e3,
            naive_secs * 1e3,
            raw_secs * 1e3
        );
        json.push(serde_json::json!({
            "players": n,
            "raw_zrevrange_top10_ms": raw_secs * 1e3,
            "index_top10_ms": pk_secs * 1e3,
            "index_top10_instances_ms": full_secs * 1e3,
            "load_all_and_sort_ms": naive_secs * 1e3,
            "speedup": speedup,
        }));
    }
    if full {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(dir.join("indexes.json"), text).expect("write json");
    }
}
