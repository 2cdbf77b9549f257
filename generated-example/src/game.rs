//! The game's rules, written with the generated code only: no Redis command by hand.

use std::convert::Infallible;

use rapyer::{LockOptions, Uuid};

use crate::generated::{Achievement, Player, PlayerRepo};

/// The result of one game for one player.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GameResult {
    /// Whether the player won.
    pub won: bool,
    /// Points scored (added to the score).
    pub points: i64,
    /// When the game ended.
    pub at: rapyer::DateTime,
}

/// What recording a game changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The score after the game.
    pub score: i64,
    /// Achievements awarded by this game.
    pub awarded: Vec<Achievement>,
}

/// Why a game action was refused.
#[derive(Debug, thiserror::Error)]
pub enum GameError {
    /// Redis, or rapyer, failed.
    #[error(transparent)]
    Store(#[from] rapyer::Error),
    /// A transfer asked for more items than the giver has.
    #[error("{player} has {have} items, cannot give {want}")]
    NotEnoughItems {
        /// The giver's username.
        player: String,
        /// What they have.
        have: i64,
        /// What was asked.
        want: i64,
    },
    /// A transfer from a player to themselves, or of a non-positive count.
    #[error("invalid transfer: {0}")]
    InvalidTransfer(&'static str),
    /// No player with this username.
    #[error("no player named {0:?}")]
    UnknownPlayer(String),
}

/// Records a game in one atomic step (an optimistic transaction): score, wins or losses, streak,
/// stats, achievements and metadata change together or not at all. `FIRST_WIN` is awarded on
/// the first win only, `STREAK_10` on the tenth consecutive win, each at most once, however many
/// games are recorded for the player at the same time.
pub async fn record_game_result(
    players: &PlayerRepo,
    id: &Uuid,
    result: GameResult,
) -> rapyer::Result<Recorded> {
    record_game_result_with(players, id, result, || {}).await
}

/// [`record_game_result`], calling `on_run` at every run of its closure (the workloads benchmark
/// counts them: a closure runs again when its round conflicts).
pub async fn record_game_result_with(
    players: &PlayerRepo,
    id: &Uuid,
    result: GameResult,
    mut on_run: impl FnMut(),
) -> rapyer::Result<Recorded> {
    players
        .update(id, |p| {
            let mut awarded = Vec::new();
            let mut award = |p: &mut Player, a: Achievement| {
                if !p.achievements.contains(&a) {
                    p.achievements.push(a);
                    awarded.push(a);
                }
            };
            p.score += result.points;
            p.stats.total_games += 1;
            let games = p.stats.total_games as f64;
            p.stats.avg_score += (result.points as f64 - p.stats.avg_score) / games;
            if result.won {
                p.wins += 1;
                p.stats.wins += 1;
                p.streak += 1;
                if p.wins == 1 {
                    award(p, Achievement::FirstWin);
                }
                if p.streak == 10 {
                    award(p, Achievement::Streak10);
                }
            } else {
                p.losses += 1;
                p.stats.losses += 1;
                p.streak = 0;
            }
            let outcome = if result.won { "win" } else { "loss" };
            p.metadata.insert("last_result".into(), outcome.into());
            p.metadata.insert(
                "last_game".into(),
                result
                    .at
                    .to_rfc3339_opts(rapyer::chrono::SecondsFormat::Millis, true),
            );
            on_run();
            Ok::<_, Infallible>(Recorded {
                score: p.score,
                awarded,
            })
        })
        .await
}

/// Records a win without a transaction: one conditional per-instance batch (one script, no
/// WATCH, no closure to re-run). The batch that finds no earlier win awards `FIRST_WIN` with the
/// win; a later one fails its condition, writes nothing, and the win is recorded alone. However
/// many wins race, the badge is awarded exactly once. Returns whether this win earned it. (The
/// streak and the running average need values read first: [`record_game_result`] keeps them.)
pub async fn record_win(players: &PlayerRepo, id: &Uuid, points: i64) -> rapyer::Result<bool> {
    let first = players.batch(id);
    let player = first.fields();
    player.wins().expect_eq(0); // nothing is written unless it holds
    player.wins().incr(1);
    player.score().incr(points);
    player.achievements().push_back(Achievement::FirstWin);
    match first.exec().await {
        Ok(_) => return Ok(true),
        Err(rapyer::Error::ConditionFailed { .. }) => {}
        Err(e) => return Err(e),
    }
    let win = players.batch(id);
    win.fields().wins().incr(1);
    win.fields().score().incr(points);
    win.exec().await?;
    Ok(false)
}

/// Moves `count` items from one player to another under both players' locks, taken all or
/// nothing (two opposite transfers never deadlock). The move is one pipeline that applies only
/// while both locks are held and releases them in the same step: two round trips in all.
pub async fn transfer_items(
    db: &rapyer::Client,
    players: &PlayerRepo,
    from: &Uuid,
    to: &Uuid,
    count: i64,
) -> Result<(), GameError> {
    if from == to {
        return Err(GameError::InvalidTransfer(
            "a player cannot give to themselves",
        ));
    }
    if count <= 0 {
        return Err(GameError::InvalidTransfer("the count must be positive"));
    }
    let (giver, taker) = players
        .lock_pair(from, to, "items", LockOptions::default())
        .await?;
    let have = giver.value().inventory_count;
    if have < count {
        let username = giver.value().username.clone();
        // Both released by one call.
        rapyer::Lock::release_all([giver.into_lock(), taker.into_lock()]).await?;
        return Err(GameError::NotEnoughItems {
            player: username,
            have,
            want: count,
        });
    }
    let mut p = db.pipeline();
    p.release_after(giver.into_lock())
        .release_after(taker.into_lock());
    p.add(players.fields(from).inventory_count().decr(count));
    p.add(players.fields(to).inventory_count().incr(count));
    p.exec().await?;
    Ok(())
}

/// The `n` best players, best first, in one round trip (sorted index on `score`).
pub async fn top(players: &PlayerRepo, n: usize) -> rapyer::Result<Vec<Player>> {
    players.by_score().top_instances(n).await
}

/// A player's rank (1 = best) and the players around them (`k` on each side), by username.
pub async fn standing(
    players: &PlayerRepo,
    username: &str,
    k: usize,
) -> Result<(u64, Vec<Player>), GameError> {
    let player = players
        .get_by_username(username)
        .await?
        .ok_or_else(|| GameError::UnknownPlayer(username.to_string()))?;
    let rank = players
        .by_score()
        .rank(&player.id)
        .await?
        .ok_or_else(|| GameError::UnknownPlayer(username.to_string()))?;
    let around = players.by_score().around_instances(&player.id, k).await?;
    Ok((rank + 1, around))
}
