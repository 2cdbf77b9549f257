//! Quickstart: CRUD, atomic field operations, a batch, a patch and a pipeline on the leaderboard schema, through
//! the generated repository.
//!
//! `cargo run -p rapyer-example --bin quickstart -- redis://127.0.0.1:6379/`

use rapyer_example::generated::{Achievement, Player, PlayerPatch, PlayerStats};

#[tokio::main]
async fn main() -> rapyer::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let db = rapyer::Client::builder(&url)
        .namespace("quickstart")
        .connect()
        .await?;
    let players = Player::repo(&db);

    let mut alice = Player::new("alice", PlayerStats::new(0, 0, 0, 0.0));
    alice.score = 120;
    alice.achievements.push(Achievement::FirstWin);
    alice.metadata.insert("region".into(), "eu".into());
    players.insert(&alice).await?;
    println!(
        "inserted {} as {}",
        alice.username,
        players.key_of(&alice.id)?
    );

    match players.insert(&alice).await {
        Err(rapyer::Error::AlreadyExists { key, .. }) => {
            println!("second insert refused: {key} exists")
        }
        other => println!("unexpected: {other:?}"),
    }

    let loaded = players.get(&alice.id).await?.expect("just inserted");
    assert_eq!(loaded, alice);
    println!(
        "read back: score {}, achievements {:?}",
        loaded.score, loaded.achievements
    );

    // Atomic field operations: each one step on the server, returning what Redis computed.
    let alice_fields = players.fields(&alice.id);
    let score = alice_fields.score().incr(100).await?;
    let wins = alice_fields.stats().wins().incr(1).await?;
    alice_fields
        .achievements()
        .push_back(Achievement::Streak10)
        .await?;
    println!("after one win: score {score}, wins {wins}");

    // A per-instance batch: its handles queue operations and return typed slots; `exec` applies
    // them all in one script call, atomically, all or nothing.
    let batch = players.batch(&alice.id);
    let f = batch.fields();
    let score = f.score().incr(10); // a Slot<i64>
    f.wins().incr(1);
    f.metadata().insert("last_win", "2026-11-26");
    let mut results = batch.exec().await?;
    println!("score now {}", results.take(score)?);

    // A patch: several fields of one instance in one step, indexes and unique checks included.
    let reset = PlayerPatch {
        streak: Some(0),
        metadata: Some([("region".to_string(), "us".to_string())].into()),
        ..Default::default()
    };
    players.patch(&alice.id, &reset).await?;

    // A pipeline: operations on any instances and models (batches appended), in one round trip.
    let mut p = db.pipeline();
    let score = p.add(alice_fields.score().incr(10));
    let wins = p.add(alice_fields.wins().incr(1));
    let bonus = players.batch(&alice.id);
    bonus.fields().inventory_count().incr(1);
    p.append(bonus); // with whatever it queued
    let mut results = p.exec().await?;
    println!(
        "pipeline: score {}, wins {}",
        results.take(score)?,
        results.take(wins)?
    );

    // An operation on a pk that does not exist creates nothing.
    let ghost = rapyer::Uuid::new_v4();
    match players.fields(&ghost).score().incr(1).await {
        Err(rapyer::Error::NotFound { key, .. }) => println!("no ghost: {key} not found"),
        other => println!("unexpected: {other:?}"),
    }

    // Indexes: the leaderboard in O(log N + k), and lookups by a unique field.
    let mut bob = Player::new("bob", PlayerStats::new(0, 0, 0, 0.0));
    bob.score = 500;
    players.insert(&bob).await?;
    let top = players.by_score().top_instances(10).await?;
    let names: Vec<&str> = top.iter().map(|p| p.username.as_str()).collect();
    println!(
        "leaderboard: {names:?}; alice ranks #{}",
        players
            .by_score()
            .rank(&alice.id)
            .await?
            .map_or(0, |r| r + 1)
    );
    let mut impostor = Player::new("alice", PlayerStats::new(0, 0, 0, 0.0));
    impostor.score = 1;
    match players.insert(&impostor).await {
        Err(rapyer::Error::UniqueViolation { field, holder, .. }) => {
            println!("second `alice` refused: {field} is held by {holder}")
        }
        other => println!("unexpected: {other:?}"),
    }
    let found = players.get_by_username("bob").await?.map(|p| p.score);
    println!("get_by_username(\"bob\"): score {found:?}");

    // An optimistic transaction: a decision on current values, retried if someone wrote first.
    let first = players
        .update(&bob.id, |p| {
            p.wins += 1;
            let first = p.wins == 1;
            if first {
                p.achievements.push(Achievement::FirstWin);
            }
            Ok::<_, std::convert::Infallible>(first)
        })
        .await?;
    println!("bob's win was his first: {first}");

    // Locks: two players in canonical order; the pipeline applies only while both are held.
    let (from, to) = players
        .lock_pair(&alice.id, &bob.id, "trade", rapyer::LockOptions::default())
        .await?;
    let mut p = db.pipeline();
    p.require_lock(from.lock()).require_lock(to.lock());
    p.add(players.fields(&alice.id).inventory_count().decr(1));
    p.add(players.fields(&bob.id).inventory_count().incr(1));
    p.exec().await?;
    println!(
        "traded an item under locks (fences {} and {})",
        from.lock().fence(),
        to.lock().fence()
    );
    from.release().await?;
    to.release().await?;
    players.delete(&bob.id).await?;

    alice.stats.wins += 1;
    players.save(&alice).await?;
    println!(
        "{} players stored; deleting alice: {}",
        players.count().await?,
        players.delete(&alice.id).await?
    );
    Ok(())
}
