//! Quickstart: CRUD on the leaderboard schema through the generated repository.
//!
//! `cargo run -p rapyer-example --bin quickstart -- redis://127.0.0.1:6379/`

use rapyer_example::generated::{Achievement, Player, PlayerStats};

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

    alice.stats.wins += 1;
    players.save(&alice).await?;
    println!(
        "{} players stored; deleting alice: {}",
        players.count().await?,
        players.delete(&alice.id).await?
    );
    Ok(())
}
