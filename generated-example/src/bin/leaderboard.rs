//! The game leaderboard demo.
//!
//! ```text
//! leaderboard [--redis URL | --cluster URL[,URL...] | --sentinel URL[,URL...] --master NAME]
//!             [--namespace NS]
//!             [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] seed N
//! leaderboard ... play --games N --tasks T
//! leaderboard ... top [--n 10]
//! leaderboard ... rank NAME
//! leaderboard ... transfer FROM TO COUNT
//! leaderboard ... race [--tasks 32] [--increments 200]
//! ```
//!
//! Without `--redis`, `--cluster` or `--sentinel` it starts a private `redis-server` for the run and stops it
//! after.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand};
use rapyer_example::game::{self, GameError, GameResult};
use rapyer_example::generated::{Player, PlayerRepo, PlayerStats};
use rapyer_example::server::PrivateServer;

#[derive(Parser)]
#[command(name = "leaderboard", about = "A game leaderboard on rapyer-rs")]
struct Cli {
    /// Redis to use; without it (or --cluster) a private redis-server runs for this command only.
    #[arg(long, global = true, conflicts_with = "cluster")]
    redis: Option<String>,
    /// A Redis Cluster instead: some of its nodes, as redis://host:port URLs, comma-separated.
    #[arg(long, global = true, value_delimiter = ',')]
    cluster: Vec<String>,
    /// Redis Sentinel instead: some sentinels, as redis://host:port URLs, comma-separated.
    #[arg(long, global = true, value_delimiter = ',', requires = "master", conflicts_with_all = ["redis", "cluster"])]
    sentinel: Vec<String>,
    /// With --sentinel: the name of the master the sentinels watch.
    #[arg(long, global = true, requires = "sentinel")]
    master: Option<String>,
    /// Key namespace.
    #[arg(long, global = true, default_value = "leaderboard")]
    namespace: String,
    /// For rediss:// URLs: trust this CA (PEM) instead of the system's roots.
    #[arg(long, global = true)]
    tls_ca: Option<std::path::PathBuf>,
    /// For mutual TLS: the client certificate (PEM); needs --tls-key.
    #[arg(long, global = true, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// For mutual TLS: the client certificate's private key (PEM); needs --tls-cert.
    #[arg(long, global = true, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create N players (named player<i>, 10 items each).
    Seed {
        /// How many.
        n: u64,
    },
    /// Play random games concurrently (seeds 100 players first if there are none).
    Play {
        /// Games in total.
        #[arg(long, default_value_t = 1000)]
        games: u64,
        /// Concurrent tasks.
        #[arg(long, default_value_t = 16)]
        tasks: u64,
    },
    /// The best players.
    Top {
        /// How many.
        #[arg(long, default_value_t = 10)]
        n: usize,
    },
    /// A player's rank and neighbours.
    Rank {
        /// Username.
        name: String,
    },
    /// Move items between two players, under locks.
    Transfer {
        /// Giver's username.
        from: String,
        /// Taker's username.
        to: String,
        /// How many items.
        count: i64,
    },
    /// Lost updates: naive read-modify-write against generated atomic increments, same load.
    Race {
        /// Concurrent tasks.
        #[arg(long, default_value_t = 32)]
        tasks: u64,
        /// Increments per task.
        #[arg(long, default_value_t = 200)]
        increments: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The builder with the TLS files of the command line.
fn with_tls(
    mut builder: rapyer::ClientBuilder,
    cli: &Cli,
) -> Result<rapyer::ClientBuilder, Box<dyn std::error::Error>> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    if let Some(ca) = &cli.tls_ca {
        builder = builder.tls_root_cert(read(ca)?);
    }
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        builder = builder.tls_client_cert(read(cert)?, read(key)?);
    }
    Ok(builder)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let private = match (
        &cli.redis,
        cli.cluster.is_empty() && cli.sentinel.is_empty(),
    ) {
        (None, true) => Some(PrivateServer::start()?),
        _ => None,
    };
    let builder = if let Some(master) = &cli.master {
        rapyer::Client::sentinel_builder(&cli.sentinel, master)
    } else if cli.cluster.is_empty() {
        let url = cli.redis.as_deref();
        rapyer::Client::builder(
            url.or(private.as_ref().map(|s| s.url.as_str()))
                .unwrap_or_default(),
        )
    } else {
        rapyer::Client::cluster_builder(&cli.cluster)
    };
    let db = with_tls(builder, &cli)?
        .namespace(cli.namespace.clone())
        .connect()
        .await?;
    let players = Player::repo(&db);
    match cli.command {
        Command::Seed { n } => seed(&players, n).await?,
        Command::Play { games, tasks } => play(&players, games, tasks).await?,
        Command::Top { n } => {
            for (i, p) in game::top(&players, n).await?.iter().enumerate() {
                print_player(i as u64 + 1, p);
            }
        }
        Command::Rank { name } => {
            let (rank, around) = game::standing(&players, &name, 2).await?;
            println!("{name} is #{rank} of {}", players.count().await?);
            let first = game::standing(&players, &around[0].username, 0).await?.0;
            for (i, p) in around.iter().enumerate() {
                print_player(first + i as u64, p);
            }
        }
        Command::Transfer { from, to, count } => {
            let giver = find(&players, &from).await?;
            let taker = find(&players, &to).await?;
            game::transfer_items(&db, &players, &giver.id, &taker.id, count).await?;
            println!("moved {count} items from {from} to {to}");
        }
        Command::Race { tasks, increments } => race(&players, tasks, increments).await?,
    }
    Ok(())
}

fn print_player(rank: u64, p: &Player) {
    println!(
        "{rank:>5}. {:<14} score {:>7}  wins {:>4}  losses {:>4}  streak {:>3}  items {:>3}  {:?}",
        p.username, p.score, p.wins, p.losses, p.streak, p.inventory_count, p.achievements
    );
}

async fn find(players: &PlayerRepo, name: &str) -> Result<Player, GameError> {
    players
        .get_by_username(name)
        .await?
        .ok_or_else(|| GameError::UnknownPlayer(name.to_string()))
}

async fn seed(players: &PlayerRepo, n: u64) -> rapyer::Result<()> {
    let start = Instant::now();
    let first = players.count().await?;
    let next = Arc::new(AtomicU64::new(first));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (players, next) = (players.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= first + n {
                        return Ok::<_, rapyer::Error>(());
                    }
                    let mut p = Player::new(format!("player{i}"), PlayerStats::new(0, 0, 0, 0.0));
                    p.inventory_count = 10;
                    players.insert(&p).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await
            .map_err(|e| rapyer::Error::Config(e.to_string()))??;
    }
    println!(
        "seeded {n} players ({} in all) in {:.2}s",
        players.count().await?,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn play(players: &PlayerRepo, games: u64, tasks: u64) -> rapyer::Result<()> {
    if players.count().await? == 0 {
        seed(players, 100).await?;
    }
    let ids = Arc::new(players.all().await?);
    let bar = indicatif::ProgressBar::new(games);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} games, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (left, points, awarded) = (
        Arc::new(AtomicU64::new(games)),
        Arc::new(AtomicI64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks.max(1))
        .map(|task| {
            let (players, ids, bar) = (players.clone(), Arc::clone(&ids), bar.clone());
            let (left, points, awarded) =
                (Arc::clone(&left), Arc::clone(&points), Arc::clone(&awarded));
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(task ^ 0x9e37_79b9);
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let id = ids[rng.usize(..ids.len())];
                    let won = rng.u8(..100) < 55;
                    let result = GameResult {
                        won,
                        points: if won {
                            rng.i64(10..=100)
                        } else {
                            rng.i64(0..=20)
                        },
                        at: rapyer::chrono::Utc::now(),
                    };
                    let recorded = game::record_game_result(&players, &id, result).await?;
                    points.fetch_add(result.points, Ordering::Relaxed);
                    awarded.fetch_add(recorded.awarded.len() as u64, Ordering::Relaxed);
                    bar.inc(1);
                }
                Ok::<_, rapyer::Error>(())
            })
        })
        .collect();
    for h in handles {
        h.await
            .map_err(|e| rapyer::Error::Config(e.to_string()))??;
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "played {games} games in {secs:.2}s with {tasks} tasks: {:.0} games/s; points recorded: {}; achievements awarded: {}",
        games as f64 / secs,
        points.load(Ordering::Relaxed),
        awarded.load(Ordering::Relaxed)
    );
    Ok(())
}

/// The seed's story in numbers: the same concurrent `score += 1` load, read-modify-write against
/// an atomic increment.
async fn race(players: &PlayerRepo, tasks: u64, increments: u64) -> rapyer::Result<()> {
    let suffix = rapyer::Uuid::new_v4().simple().to_string();
    let naive = Player::new(
        format!("race-naive-{suffix}"),
        PlayerStats::new(0, 0, 0, 0.0),
    );
    let atomic = Player::new(
        format!("race-atomic-{suffix}"),
        PlayerStats::new(0, 0, 0, 0.0),
    );
    players.insert(&naive).await?;
    players.insert(&atomic).await?;
    let expected = (tasks * increments) as i64;

    let run = |atomic_path: bool, id: rapyer::Uuid| {
        let players = players.clone();
        async move {
            let start = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let players = players.clone();
                    tokio::spawn(async move {
                        for _ in 0..increments {
                            if atomic_path {
                                players.fields(&id).score().incr(1).await?;
                            } else {
                                // Read, modify on the client, write back: the naive code.
                                if let Some(mut p) = players.get(&id).await? {
                                    p.score += 1;
                                    players.save(&p).await?;
                                }
                            }
                        }
                        Ok::<_, rapyer::Error>(())
                    })
                })
                .collect();
            for h in handles {
                h.await
                    .map_err(|e| rapyer::Error::Config(e.to_string()))??;
            }
            let got = players.fields(&id).score().get().await?;
            Ok::<_, rapyer::Error>((got, start.elapsed().as_secs_f64()))
        }
    };
    let (naive_got, naive_secs) = run(false, naive.id).await?;
    let (atomic_got, atomic_secs) = run(true, atomic.id).await?;
    println!("{tasks} tasks x {increments} increments of one player's score each way:");
    println!(
        "  naive read-modify-write: expected {expected}, got {naive_got}, lost {} ({naive_secs:.2}s)",
        expected - naive_got
    );
    println!(
        "  generated atomic incr:   expected {expected}, got {atomic_got}, lost {} ({atomic_secs:.2}s)",
        expected - atomic_got
    );
    players.delete(&naive.id).await?;
    players.delete(&atomic.id).await?;
    Ok(())
}
