//! The `leaderboard` demo end to end: its subcommands against a private server, their results
//! checked against what Redis holds.

use std::process::Output;

use rapyer_example::generated::{Achievement, Player};
use rapyer_tests::harness::TestRedis;
use redis::AsyncCommands;

struct Demo {
    /// `--redis URL` or `--cluster URLS`.
    server: [String; 2],
    namespace: String,
}

impl Demo {
    fn run(&self, args: &[&str]) -> Output {
        rapyer_tests::workspace_bin("rapyer-example", "leaderboard")
            .args(&self.server)
            .args(["--namespace", &self.namespace])
            .args(args)
            .output()
            .expect("run leaderboard")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "leaderboard {args:?} failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// The number after `label` in `text`.
fn number_after(text: &str, label: &str) -> i64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {text}"))
}

rapyer_tests::on_both!(
    the_demo_s_subcommands_do_what_they_say,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn the_demo_s_subcommands_do_what_they_say(t: TestRedis) {
    let namespace = format!("{}demo", t.namespace.clone().unwrap_or_default());
    let (server, builder) = if t.is_cluster() {
        (
            ["--cluster".to_string(), t.cluster_urls.join(",")],
            rapyer::Client::cluster_builder(&t.cluster_urls),
        )
    } else {
        (
            ["--redis".to_string(), t.url.clone()],
            rapyer::Client::builder(&t.url),
        )
    };
    let demo = Demo {
        server,
        namespace: namespace.clone(),
    };
    let db = builder.namespace(namespace).connect().await.unwrap();
    let players = Player::repo(&db);

    let out = demo.ok(&["seed", "40"]);
    assert!(out.contains("seeded 40 players (40 in all)"), "{out}");

    let out = demo.ok(&["play", "--games", "600", "--tasks", "8"]);
    let points = number_after(&out, "points recorded:");
    let awarded = number_after(&out, "achievements awarded:");
    let all: Vec<Player> = players
        .get_many(&players.all().await.unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(all.len(), 40);
    assert_eq!(
        all.iter().map(|p| p.score).sum::<i64>(),
        points,
        "scores vs points recorded"
    );
    assert_eq!(all.iter().map(|p| p.stats.total_games).sum::<i64>(), 600);
    assert_eq!(all.iter().map(|p| p.wins + p.losses).sum::<i64>(), 600);
    let first_wins = all
        .iter()
        .filter(|p| p.achievements.contains(&Achievement::FirstWin))
        .count();
    assert_eq!(first_wins, all.iter().filter(|p| p.wins > 0).count());
    let badges: usize = all.iter().map(|p| p.achievements.len()).sum();
    assert_eq!(badges as i64, awarded, "each badge awarded once");
    for p in &all {
        let mut seen = p.achievements.clone();
        seen.sort_by_key(|a| a.as_str());
        seen.dedup();
        assert_eq!(seen.len(), p.achievements.len(), "{p:?}");
        if p.stats.total_games > 0 {
            let last = p.metadata.get("last_result").map(String::as_str);
            assert!(matches!(last, Some("win" | "loss")), "{p:?}");
            assert!(p.metadata.contains_key("last_game"), "{p:?}");
            assert_eq!(p.streak > 0, last == Some("win"), "{p:?}");
        }
    }

    // The leaderboard against a brute force (ties: larger pk first, as the index orders them).
    let mut ranked = all.clone();
    ranked.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(b.id.to_string().cmp(&a.id.to_string()))
    });
    let out = demo.ok(&["top", "--n", "5"]);
    let shown: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    let expected: Vec<&str> = ranked.iter().take(5).map(|p| p.username.as_str()).collect();
    assert_eq!(shown, expected, "{out}");
    let name = &ranked[17].username;
    let out = demo.ok(&["rank", name]);
    assert!(out.starts_with(&format!("{name} is #18 of 40")), "{out}");
    assert_eq!(
        out.lines().count(),
        1 + 5,
        "two neighbours on each side: {out}"
    );

    // Transfers move items under locks; too many is refused and changes nothing.
    let out = demo.ok(&["transfer", "player1", "player2", "4"]);
    assert!(out.contains("moved 4 items"), "{out}");
    let out = demo.run(&["transfer", "player1", "player2", "99"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has 6 items, cannot give 99"));
    let items = |name: &'static str| {
        let players = players.clone();
        async move {
            players
                .get_by_username(name)
                .await
                .unwrap()
                .unwrap()
                .inventory_count
        }
    };
    assert_eq!((items("player1").await, items("player2").await), (6, 14));
    // Both endings gave the locks up (the pipeline's own script, then one release call).
    let mut raw = t.raw().await;
    for name in ["player1", "player2"] {
        let player = players.get_by_username(name).await.unwrap().unwrap();
        let key = players.lock_key(&player.id, "items").unwrap();
        assert!(
            !raw.exists::<_, bool>(&key).await.unwrap(),
            "{key} was left locked"
        );
    }

    // The race: the naive code loses updates, the generated one none.
    let out = demo.ok(&["race", "--tasks", "16", "--increments", "40"]);
    let naive = &out[out.find("naive").unwrap()..];
    let atomic = &out[out.find("generated atomic").unwrap()..];
    assert!(
        number_after(naive, "lost") > 0,
        "the naive code lost nothing: {out}"
    );
    assert_eq!(number_after(atomic, "lost"), 0, "{out}");
    assert_eq!(number_after(atomic, "got"), 640);
    assert_eq!(
        players.count().await.unwrap(),
        40,
        "the race cleans up after itself"
    );
}

rapyer_tests::on_both!(
    record_game_result_awards_each_badge_exactly_once,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn record_game_result_awards_each_badge_exactly_once(t: TestRedis) {
    use rapyer_example::game::{GameResult, record_game_result};
    use rapyer_example::generated::PlayerStats;
    let players = Player::repo(&t.client);
    let p = Player::new("streaker", PlayerStats::new(0, 0, 0, 0.0));
    players.insert(&p).await.unwrap();
    let game = |won| GameResult {
        won,
        points: 10,
        at: rapyer::chrono::Utc::now(),
    };
    // 9 wins, a loss (the streak resets), then 32 wins at once: FIRST_WIN on the first win,
    // STREAK_10 when the streak reaches 10, each once.
    let mut awarded = Vec::new();
    for _ in 0..9 {
        awarded.extend(
            record_game_result(&players, &p.id, game(true))
                .await
                .unwrap()
                .awarded,
        );
    }
    record_game_result(&players, &p.id, game(false))
        .await
        .unwrap();
    assert_eq!(players.fields(&p.id).streak().get().await.unwrap(), 0);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let players = players.clone();
            tokio::spawn(async move {
                record_game_result(&players, &p.id, game(true))
                    .await
                    .unwrap()
                    .awarded
            })
        })
        .collect();
    for task in tasks {
        awarded.extend(task.await.unwrap());
    }
    assert_eq!(awarded, [Achievement::FirstWin, Achievement::Streak10]);
    let p = players.get(&p.id).await.unwrap().unwrap();
    assert_eq!(
        p.achievements,
        [Achievement::FirstWin, Achievement::Streak10]
    );
    assert_eq!((p.wins, p.losses, p.streak, p.score), (41, 1, 32, 420));
    assert_eq!(p.stats.total_games, 42);
    assert!((p.stats.avg_score - 10.0).abs() < 1e-9);
}
