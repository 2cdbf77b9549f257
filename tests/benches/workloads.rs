//! The game server's hot paths, each beside raw redis-rs doing the same Redis work on the same
//! private redis-server and connection, in the same run (issue 16's table): single increments at
//! several concurrencies, pipelines, reading a player, recording game results (spread and on one
//! hot player), locked item transfers (spread and on one hot pair), the top 10, and the memory a
//! player takes.
//!
//! `cargo bench -p rapyer-tests --bench workloads` prints the figures and writes
//! `target/bench/workloads.json`; under `cargo test` it runs each workload briefly, as a smoke
//! test of the benchmark itself. `RAPYER_FUNCTIONS=off` runs the same workloads with the
//! client's Lua sent as scripts (EVALSHA) instead of functions (FCALL), to compare the two;
//! `RAPYER_WORKLOADS=pipelines,games` runs only the named workloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rapyer::{Error, Uuid};
use rapyer_example::game::{GameError, GameResult, record_game_result_with, transfer_items};
use rapyer_example::generated::{Achievement, Player, PlayerRepo, PlayerStats};
use rapyer_tests::harness::{RedisServer, Transport};
use rapyer_tests::rng::Rng;
use serde_json::json;

/// Runs `round(task, i)` `per_task` times in each of `tasks` tasks; returns rounds per second.
async fn rate<F, Fut>(tasks: u64, per_task: u64, round: F) -> f64
where
    F: Fn(u64, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let round = round.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    round(task, i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("benchmark task");
    }
    (tasks * per_task) as f64 / start.elapsed().as_secs_f64()
}

/// HGETALL's answer.
type Pairs = Vec<(String, String)>;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What [`alternate`] measured: the median rate of each side, and the median of the ratios
/// `b / a` of the rounds run back to back, which a drifting machine (a busy neighbour, a
/// throttled core) moves far less than the ratio of the two medians.
struct Paired {
    a: f64,
    b: f64,
    ratio: f64,
}

/// Runs `a` and `b` alternately `rounds` times (see [`Paired`]).
async fn alternate<A, AF, B, BF>(rounds: usize, a: A, b: B) -> Paired
where
    A: Fn() -> AF,
    AF: Future<Output = f64>,
    B: Fn() -> BF,
    BF: Future<Output = f64>,
{
    let (mut xs, mut ys, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (x, y) = (a().await, b().await);
        xs.push(x);
        ys.push(y);
        ratios.push(y / x);
    }
    Paired {
        a: median(xs),
        b: median(ys),
        ratio: median(ratios),
    }
}

/// Every command's figure `stat` (`calls`, `usec`) from INFO commandstats, largest first.
async fn command_stats(conn: &mut rapyer::Connection, stat: &str) -> Vec<(String, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO");
    let prefix = format!("{stat}=");
    let mut stats: Vec<(String, u64)> = info
        .lines()
        .filter_map(|l| {
            let (name, stats) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let value = stats.split(',').find_map(|s| s.strip_prefix(&prefix))?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect();
    stats.sort_by_key(|(_, value)| std::cmp::Reverse(*value));
    stats
}

/// A server-side command counter (INFO commandstats), e.g. `watch`.
async fn command_calls(conn: &mut rapyer::Connection, name: &str) -> u64 {
    let calls = command_stats(conn, "calls").await;
    calls
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, calls)| calls)
}

fn player(i: u64) -> Player {
    let mut p = Player::new(format!("p{i}"), PlayerStats::new(0, 0, 0, 0.0));
    p.id = Uuid::from_u128(u128::from(i) + 1);
    p.score = (i % 1000) as i64;
    p.inventory_count = 1_000_000;
    p.achievements = vec![Achievement::FirstWin];
    p.metadata.insert("region".into(), "eu".into());
    p
}

/// The keys of a player as redis-rs sees them: its hash, its two container keys.
fn player_keys(players: &PlayerRepo, id: &Uuid) -> (String, String, String) {
    let keys = players.keys_of(id).expect("keys");
    let hash = keys[0].clone();
    let find = |suffix: &str| {
        keys.iter()
            .find(|k| k.ends_with(suffix))
            .cloned()
            .expect("container key")
    };
    (hash, find("achievements"), find("metadata"))
}

/// Whether workload `name` runs: all of them, unless `RAPYER_WORKLOADS` lists some
/// (comma-separated: incr, pipelines, get, games, transfers, top10, memory), to measure one
/// lever at a time.
fn selected(name: &str) -> bool {
    match std::env::var("RAPYER_WORKLOADS") {
        Ok(list) => list.split(',').any(|w| w.trim() == name),
        Err(_) => true,
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, scale) = if full { (7, 1) } else { (1, 50) };
    let server = RedisServer::start(Transport::Tcp);
    // `RAPYER_FUNCTIONS=off` measures the same workloads with scripts instead of functions.
    let functions = std::env::var("RAPYER_FUNCTIONS").map_or(true, |v| v != "off");
    // `RAPYER_TURNS=off`: transactions of one instance run side by side and retry on conflict.
    let turns = std::env::var("RAPYER_TURNS").map_or(true, |v| v != "off");
    let db = rapyer::Client::builder(&server.url)
        .functions(functions)
        .take_turns(turns)
        .connect()
        .await
        .expect("connect");
    let mut raw = db.connection();
    let players = Player::repo(&db);
    const PLAYERS: u64 = 10_000;
    let ids: Arc<Vec<Uuid>> = Arc::new((0..PLAYERS).map(|i| player(i).id).collect());
    let all: Vec<Player> = (0..PLAYERS).map(player).collect();
    for chunk in all.chunks(500) {
        for r in players.save_many(chunk).await {
            r.expect("save");
        }
    }
    // Every player's keys, for the raw rounds.
    let keys: Arc<Vec<(String, String, String)>> =
        Arc::new(ids.iter().map(|id| player_keys(&players, id)).collect());
    let score_index = db.keys().index(
        &<Player as rapyer::Model>::META,
        rapyer::__private::IndexKind::SortedInt,
        "score",
        0,
    );
    let mut json = serde_json::Map::new();
    println!(
        "workloads beside raw redis-rs (TCP, one multiplexed connection, {rounds} alternating rounds)"
    );

    if selected("incr") {
        // 1. Single increments vs raw HINCRBY.
        let (hot_hash, _, _) = player_keys(&players, &ids[0]);
        let mut incr_rows = Vec::new();
        println!("\nincr of Player.wins vs raw HINCRBY");
        println!(
            "{:>6} {:>14} {:>14} {:>7}",
            "tasks", "raw/s", "generated/s", "ratio"
        );
        for tasks in [1u64, 4, 16, 64, 256] {
            let per_task = (40_000 / tasks / scale).max(2);
            let Paired {
                a: raw_rate,
                b: generated,
                ratio,
            } = alternate(
                rounds,
                || {
                    let (conn, key) = (raw.clone(), hot_hash.clone());
                    rate(tasks, per_task, move |_, _| {
                        let (mut conn, key) = (conn.clone(), key.clone());
                        async move {
                            let _: i64 = redis::cmd("HINCRBY")
                                .arg(&key)
                                .arg("wins")
                                .arg(1)
                                .query_async(&mut conn)
                                .await
                                .expect("HINCRBY");
                        }
                    })
                },
                || {
                    let (players, id) = (players.clone(), ids[0]);
                    rate(tasks, per_task, move |_, _| {
                        let op = players.fields(&id).wins().incr(1);
                        async move {
                            op.await.expect("incr");
                        }
                    })
                },
            )
            .await;
            println!("{tasks:>6} {raw_rate:>14.0} {generated:>14.0} {ratio:>7.2}");
            incr_rows.push(json!({"tasks": tasks, "raw_per_sec": raw_rate.round(), "generated_per_sec": generated.round(), "ratio": ratio}));
        }
        json.insert("incr".into(), incr_rows.into());
    }

    if selected("pipelines") {
        // 2. Pipelines of 10 increments vs single increments, 64 tasks.
        let per_task = (2_000 / scale).max(2);
        let Paired {
            a: single,
            b: piped,
            ratio,
        } = alternate(
            rounds,
            || {
                let (players, ids) = (players.clone(), Arc::clone(&ids));
                rate(64, per_task * 10, move |task, _| {
                    let op = players.fields(&ids[task as usize]).wins().incr(1);
                    async move {
                        op.await.expect("incr");
                    }
                })
            },
            || {
                let (players, ids, db) = (players.clone(), Arc::clone(&ids), db.clone());
                rate(64, per_task, move |task, _| {
                    let mut p = db.pipeline();
                    for _ in 0..10 {
                        p.add(players.fields(&ids[task as usize]).wins().incr(1));
                    }
                    async move {
                        p.exec().await.expect("pipeline");
                    }
                })
            },
        )
        .await;
        let piped = piped * 10.0;
        println!(
            "\npipelines of 10 incr, 64 tasks: {piped:.0} ops/s; single incr: {single:.0} ops/s; ratio {:.2}",
            ratio * 10.0
        );
        json.insert(
            "pipelines".into(),
            json!({"tasks": 64, "single_per_sec": single.round(), "pipelined_ops_per_sec": piped.round(), "ratio": ratio * 10.0}),
        );
    }

    if selected("get") {
        // 3. get of a player vs raw redis-rs reading its three keys in one round trip.
        // Raw twice: the reads as they come (the goal's measure), and inside MULTI/EXEC, which a
        // consistent instance needs: the cost of atomicity alone.
        let per_task = (5_000 / scale).max(2);
        let raw_reads = |atomic: bool| {
            let (conn, keys) = (raw.clone(), Arc::clone(&keys));
            rate(16, per_task, move |task, _| {
                let (mut conn, keys) = (conn.clone(), Arc::clone(&keys));
                async move {
                    let (hash, list, map) = &keys[task as usize];
                    let mut pipe = redis::pipe();
                    if atomic {
                        pipe.atomic();
                    }
                    let _: (Pairs, Vec<String>, Pairs) = pipe
                        .hgetall(hash)
                        .lrange(list, 0, -1)
                        .hgetall(map)
                        .query_async(&mut conn)
                        .await
                        .expect("raw read");
                }
            })
        };
        // Each round's raw MULTI/EXEC and `get` rates, for their paired ratio.
        let (atomic_rates, get_rates) = (
            std::sync::Mutex::new(Vec::new()),
            std::sync::Mutex::new(Vec::new()),
        );
        let Paired {
            a: raw_get,
            b: gen_get,
            ratio,
        } = alternate(
            rounds,
            || async {
                let atomic = raw_reads(true).await;
                atomic_rates.lock().expect("rates").push(atomic);
                raw_reads(false).await
            },
            || async {
                let (players, ids) = (players.clone(), Arc::clone(&ids));
                let got = rate(16, per_task, move |task, _| {
                    let (players, id) = (players.clone(), ids[task as usize]);
                    async move {
                        players.get(&id).await.expect("get").expect("player");
                    }
                })
                .await;
                get_rates.lock().expect("rates").push(got);
                got
            },
        )
        .await;
        let atomic_rates = atomic_rates.into_inner().expect("rates");
        let get_rates = get_rates.into_inner().expect("rates");
        let ratio_to_atomic = median(
            get_rates
                .iter()
                .zip(&atomic_rates)
                .map(|(got, atomic)| got / atomic)
                .collect(),
        );
        let raw_atomic_get = median(atomic_rates);
        println!(
            "\nget of a player, 16 tasks: raw {raw_get:.0}/s (in MULTI/EXEC {raw_atomic_get:.0}/s), generated {gen_get:.0}/s, ratio {ratio:.2} ({ratio_to_atomic:.2} of the raw MULTI/EXEC)"
        );
        json.insert(
            "get".into(),
            json!({"tasks": 16, "raw_per_sec": raw_get.round(), "raw_atomic_per_sec": raw_atomic_get.round(), "ratio_to_atomic": ratio_to_atomic, "generated_per_sec": gen_get.round(), "ratio": ratio}),
        );
    }

    if selected("games") {
        // 4. Game results: spread over 10k players (16 tasks), and on one hot player (64 tasks);
        // raw: the same writes as one MULTI/EXEC of redis-rs, without the read or any check.
        let game = |i: u64| GameResult {
            won: !i.is_multiple_of(3),
            points: (i % 7) as i64,
            at: rapyer::chrono::Utc::now(),
        };

        let mut game_rows = Vec::new();
        for (label, tasks, hot) in [("spread", 16u64, false), ("hot", 64, true)] {
            let per_task = ((if hot { 300 } else { 1_500 }) / scale).max(2);
            let watches_before = command_calls(&mut raw, "watch").await;
            let generated_games = Arc::new(AtomicU64::new(0));
            let conflicts = Arc::new(AtomicU64::new(0));
            let closure_runs = Arc::new(AtomicU64::new(0));
            let generated_round = || {
                let (players, ids, games, conflicts, closure_runs) = (
                    players.clone(),
                    Arc::clone(&ids),
                    Arc::clone(&generated_games),
                    Arc::clone(&conflicts),
                    Arc::clone(&closure_runs),
                );
                rate(tasks, per_task, move |task, i| {
                    let (players, games, conflicts, closure_runs) = (
                        players.clone(),
                        Arc::clone(&games),
                        Arc::clone(&conflicts),
                        Arc::clone(&closure_runs),
                    );
                    let n = if hot {
                        0
                    } else {
                        (task * 7919 + i * 104_729) % PLAYERS
                    };
                    let id = ids[n as usize];
                    async move {
                        // Under heavy contention an update may give up (Conflict): counted, and
                        // not a game recorded.
                        let counted = || {
                            closure_runs.fetch_add(1, Ordering::Relaxed);
                        };
                        match record_game_result_with(&players, &id, game(i), counted).await {
                            Ok(_) => {
                                games.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(Error::Conflict { .. }) => {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("record_game_result: {e}"),
                        }
                    }
                })
            };
            let Paired {
                a: raw_rate,
                b: generated_rate,
                ratio,
            } = alternate(
                rounds,
                || {
                    let (conn, ids, keys, index) = (
                        raw.clone(),
                        Arc::clone(&ids),
                        Arc::clone(&keys),
                        score_index.clone(),
                    );
                    rate(tasks, per_task, move |task, i| {
                        let mut conn = conn.clone();
                        let n = if hot {
                            0
                        } else {
                            (task * 7919 + i * 104_729) % PLAYERS
                        };
                        let id = ids[n as usize];
                        let (hash, _, map) = keys[n as usize].clone();
                        let index = index.clone();
                        async move {
                            let _: () = redis::pipe()
                                .atomic()
                                .hincr(&hash, "score", 3)
                                .zincr(&index, id.to_string(), 3)
                                .hincr(&hash, "wins", 1)
                                .hincr(&hash, "streak", 1)
                                .hincr(&hash, "stats.total_games", 1)
                                .hincr(&hash, "stats.wins", 1)
                                .hset(&hash, "stats.avg_score", "2.5")
                                .hset(&map, "last_result", "win")
                                .hset(&map, "last_game", "2026-12-01T00:00:00.000Z")
                                .ignore()
                                .query_async(&mut conn)
                                .await
                                .expect("raw game");
                        }
                    })
                },
                &generated_round,
            )
            .await;
            // Every round of `update` starts with a WATCH (the raw rounds send none); one round
            // may run the closures of several games (shared rounds, see rapyer's tx.rs).
            let watches = command_calls(&mut raw, "watch").await - watches_before;
            let games = generated_games.load(Ordering::Relaxed);
            let conflicts = conflicts.load(Ordering::Relaxed);
            let runs = closure_runs.load(Ordering::Relaxed) as f64 / games.max(1) as f64;
            let rounds_per_game = watches as f64 / games.max(1) as f64;
            // Calls that gave up count in the rate: recorded games per second are fewer.
            let generated = generated_rate * games as f64 / (games + conflicts).max(1) as f64;
            println!(
                "\nrecord_game_result, {label} ({tasks} tasks): {generated:.0} games/s, {runs:.2} closure runs and {rounds_per_game:.2} rounds (WATCH) per game, {conflicts} gave up (Conflict); raw MULTI/EXEC of the writes alone: {raw_rate:.0}/s"
            );
            // Where the server's time goes: one more round of games alone, between resets of
            // INFO commandstats.
            let _: () = redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .query_async(&mut raw)
                .await
                .expect("CONFIG RESETSTAT");
            let played_before = generated_games.load(Ordering::Relaxed);
            generated_round().await;
            let played = (generated_games.load(Ordering::Relaxed) - played_before).max(1);
            let server_us: Vec<(String, f64)> = command_stats(&mut raw, "usec")
                .await
                .into_iter()
                .filter(|(name, _)| name != "config|resetstat" && name != "info")
                .map(|(name, usec)| (name, usec as f64 / played as f64))
                .collect();
            let listed: Vec<String> = server_us
                .iter()
                .map(|(name, us)| format!("{name} {us:.1}"))
                .collect();
            println!(
                "  server time per game, us (INFO commandstats; a command run inside FCALL or EXEC also counts on its own line): {}",
                listed.join(", ")
            );
            let server_us: serde_json::Map<String, serde_json::Value> = server_us
                .into_iter()
                .map(|(name, us)| (name, json!((us * 10.0).round() / 10.0)))
                .collect();
            game_rows.push(json!({"case": label, "tasks": tasks, "games_per_sec": generated.round(), "closure_runs_per_game": runs, "rounds_per_game": rounds_per_game, "conflicts": conflicts, "raw_writes_per_sec": raw_rate.round(), "ratio": ratio * generated / generated_rate, "server_us_per_game": server_us}));
        }
        json.insert("game_results".into(), game_rows.into());
    }

    if selected("transfers") {
        // 5. Lock-pair transfers: random pairs among 10k players, and one hot pair (16 tasks);
        // raw: SET NX PX of both lock keys, a MULTI/EXEC of the move, DEL of both (no fencing, no
        // waiting: a taken lock is retried at once).
        let mut transfer_rows = Vec::new();
        for (label, hot) in [("random pairs", false), ("one hot pair", true)] {
            let per_task = ((if hot { 100 } else { 500 }) / scale).max(2);
            let timeouts = Arc::new(AtomicU64::new(0));
            let Paired {
                a: raw_rate,
                b: generated,
                ratio,
            } = alternate(
                rounds,
                || {
                    let (conn, keys) = (raw.clone(), Arc::clone(&keys));
                    rate(16, per_task, move |task, i| {
                        let mut conn = conn.clone();
                        let (a, b) = pair(hot, task, i);
                        let from_hash = keys[a as usize].0.clone();
                        let to_hash = keys[b as usize].0.clone();
                        let mut locks = [
                            format!("{from_hash}:lock:raw"),
                            format!("{to_hash}:lock:raw"),
                        ];
                        locks.sort();
                        async move {
                            for lock in &locks {
                                loop {
                                    let got: Option<String> = redis::cmd("SET")
                                        .arg(lock)
                                        .arg("token")
                                        .arg("NX")
                                        .arg("PX")
                                        .arg(5000)
                                        .query_async(&mut conn)
                                        .await
                                        .expect("SET NX");
                                    if got.is_some() {
                                        break;
                                    }
                                    tokio::task::yield_now().await;
                                }
                            }
                            let _: () = redis::pipe()
                                .atomic()
                                .hincr(&from_hash, "inventory_count", -1)
                                .hincr(&to_hash, "inventory_count", 1)
                                .ignore()
                                .query_async(&mut conn)
                                .await
                                .expect("raw move");
                            for lock in &locks {
                                let _: () = redis::cmd("DEL")
                                    .arg(lock)
                                    .query_async(&mut conn)
                                    .await
                                    .expect("DEL");
                            }
                        }
                    })
                },
                || {
                    let (db, players, ids, timeouts) = (
                        db.clone(),
                        players.clone(),
                        Arc::clone(&ids),
                        Arc::clone(&timeouts),
                    );
                    rate(16, per_task, move |task, i| {
                        let (db, players, timeouts) =
                            (db.clone(), players.clone(), Arc::clone(&timeouts));
                        let (a, b) = pair(hot, task, i);
                        let (from, to) = (ids[a as usize], ids[b as usize]);
                        async move {
                            match transfer_items(&db, &players, &from, &to, 1).await {
                                Ok(()) => {}
                                Err(GameError::Store(Error::LockTimeout { .. })) => {
                                    timeouts.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("transfer: {e}"),
                            }
                        }
                    })
                },
            )
            .await;
            let timeouts = timeouts.load(Ordering::Relaxed);
            println!(
                "\nlock-pair transfers, {label} (16 tasks): {generated:.0}/s ({timeouts} lock timeouts); raw SET NX / MULTI / DEL: {raw_rate:.0}/s"
            );
            transfer_rows.push(json!({"case": label, "tasks": 16, "transfers_per_sec": generated.round(), "lock_timeouts": timeouts, "raw_per_sec": raw_rate.round(), "ratio": ratio}));
        }
        json.insert("transfers".into(), transfer_rows.into());
    }

    if selected("top10") {
        // 6. Top 10 through the sorted index vs a bare ZREVRANGE of the same key.
        let per_task = (5_000 / scale).max(2);
        let Paired {
            a: raw_top,
            b: gen_top,
            ratio,
        } = alternate(
            rounds,
            || {
                let (conn, key) = (raw.clone(), score_index.clone());
                rate(16, per_task, move |_, _| {
                    let (mut conn, key) = (conn.clone(), key.clone());
                    async move {
                        let _: Vec<String> = redis::cmd("ZREVRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(9)
                            .query_async(&mut conn)
                            .await
                            .expect("ZREVRANGE");
                    }
                })
            },
            || {
                let players = players.clone();
                rate(16, per_task, move |_, _| {
                    let players = players.clone();
                    async move {
                        players.by_score().top(10).await.expect("top");
                    }
                })
            },
        )
        .await;
        println!(
            "\ntop 10, 16 tasks: raw ZREVRANGE {raw_top:.0}/s, through the index {gen_top:.0}/s, ratio {ratio:.2}"
        );
        json.insert(
            "top10".into(),
            json!({"tasks": 16, "raw_per_sec": raw_top.round(), "generated_per_sec": gen_top.round(), "ratio": ratio}),
        );
    }

    if selected("memory") {
        // 7. Memory of one player: its keys (and index entries) vs the same data as one JSON string.
        let sample = players.get(&ids[1]).await.expect("get").expect("player");
        let (hash, list, map) = player_keys(&players, &ids[1]);
        let mut bytes = 0u64;
        for key in [&hash, &list, &map] {
            let used: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut raw)
                .await
                .expect("MEMORY USAGE");
            bytes += used.unwrap_or(0);
        }
        let text = serde_json::to_string(&sample).expect("json");
        let _: () = redis::cmd("SET")
            .arg("bench:json-player")
            .arg(&text)
            .query_async(&mut raw)
            .await
            .expect("SET");
        let json_bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg("bench:json-player")
            .query_async(&mut raw)
            .await
            .expect("MEMORY USAGE");
        println!(
            "\nmemory of one player: {bytes} bytes in its 3 keys (hash, achievements, metadata; index entries apart); {json_bytes} bytes as one JSON string of {} bytes",
            text.len()
        );
        json.insert(
            "memory".into(),
            json!({"player_bytes": bytes, "json_string_bytes": json_bytes, "json_text_len": text.len()}),
        );
    }

    // Nothing was lost: every transfer moved one item, so the inventories still add up.
    let total: i64 = players
        .get_many(ids.iter())
        .await
        .expect("read all")
        .into_iter()
        .map(|p| p.expect("player").inventory_count)
        .sum();
    assert_eq!(total, 1_000_000 * PLAYERS as i64, "an item was lost");

    if full && std::env::var("RAPYER_WORKLOADS").is_err() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(dir.join("workloads.json"), text).expect("write json");
    }
}

/// The players of transfer `i` of `task`: a random pair among all, or the hot pair (alternating
/// direction).
fn pair(hot: bool, task: u64, i: u64) -> (u64, u64) {
    if hot {
        return if (task + i).is_multiple_of(2) {
            (0, 1)
        } else {
            (1, 0)
        };
    }
    let mut rng = Rng(task * 1_000_003 + i * 7 + 1);
    let a = rng.below(10_000);
    let b = (a + 1 + rng.below(9_999)) % 10_000;
    (a, b)
}
