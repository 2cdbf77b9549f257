//! Conditional writes without WATCH: conditions checked in the same script as a pipeline's
//! writes, compare-and-set, and max/min ("keep the best score").

use std::sync::Arc;

use rapyer::Error;
use rapyer_tests::fixtures::all_types::{Color, Sample, SampleRepo};
use rapyer_tests::fixtures::indexes::Gamer;
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::{at, full_sample};

async fn saved(t: &TestRedis, name: &str) -> SampleRepo {
    let repo = Sample::repo(&t.client);
    repo.save(&full_sample(name)).await.unwrap();
    repo
}

rapyer_tests::on_all!(a_condition_sees_the_plain_writes_before_it);
async fn a_condition_sees_the_plain_writes_before_it(t: TestRedis) {
    // The precheck simulates the batch op by op (lua/ops_lib.lua): a condition or an increment
    // sees what plain writes before it left, not what is stored.
    let repo = saved(&t, "s").await;
    let f = repo.fields("s");
    f.text().set("a").await.unwrap();
    f.opt_count().set(3).await.unwrap();

    // A set, then a condition on it: the condition sees the new value.
    let mut p = t.client.pipeline();
    p.add(f.text().set("b"));
    p.add(f.text().expect_eq("b"));
    p.add(f.text().set("c")); // after the last reader
    p.exec().await.unwrap();
    assert_eq!(f.text().get().await.unwrap(), "c");

    // A clear, then a condition that the field is set: it fails and writes nothing.
    let mut p = t.client.pipeline();
    p.add(f.text().set("d"));
    p.add(f.opt_count().clear());
    p.add(f.opt_count().expect_set());
    let err = p.exec().await.unwrap_err();
    assert!(matches!(err, Error::ConditionFailed { .. }), "{err}");
    assert_eq!(f.text().get().await.unwrap(), "c");
    assert_eq!(f.opt_count().get().await.unwrap(), Some(3));

    // A set, then an increment of the same field: the sum starts from the value set.
    let mut p = t.client.pipeline();
    p.add(f.count().set(40));
    p.add(f.count().incr(2));
    p.exec().await.unwrap();
    assert_eq!(f.count().get().await.unwrap(), 42);
}

rapyer_tests::on_all!(a_failed_condition_writes_nothing_and_says_which);
async fn a_failed_condition_writes_nothing_and_says_which(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let f = repo.fields("s");
    f.count().set(10).await.unwrap();
    f.ratio().set(0.5).await.unwrap();
    f.text().set("a").await.unwrap();
    f.at().set(at(1_700_000_000, 0)).await.unwrap();
    f.opt_count().clear().await.unwrap();

    // Conditions that hold: the writes apply.
    let mut p = t.client.pipeline();
    p.add(f.count().expect_lt(11));
    p.add(f.count().expect_ge(10));
    p.add(f.ratio().expect_gt(0.25));
    p.add(f.text().expect_eq("a"));
    p.add(f.at().expect_lt(at(1_700_000_001, 0)));
    p.add(f.opt_count().expect_unset());
    p.add(repo.instance("s").expect_exists());
    p.add(f.count().incr(1));
    p.exec().await.unwrap();
    assert_eq!(f.count().get().await.unwrap(), 11);

    // One that fails: nothing of the pipeline is written, and the error names it.
    let mut p = t.client.pipeline();
    p.add(f.count().incr(1));
    p.add(f.text().set("b"));
    p.add(f.count().expect_le(11)); // sees the incr before it: 12
    let err = p.exec().await.unwrap_err();
    match &err {
        Error::ConditionFailed {
            field,
            condition,
            found,
            ..
        } => {
            assert_eq!(field, "count");
            assert_eq!(condition, "le 11");
            assert_eq!(found, "12");
        }
        other => panic!("{other}"),
    }
    assert_eq!(f.count().get().await.unwrap(), 11);
    assert_eq!(f.text().get().await.unwrap(), "a");

    for (what, cond) in [
        ("unset", f.opt_count().expect_set()),
        ("ne", f.text().expect_ne("a")),
        ("lt", f.ratio().expect_lt(0.5)),
        ("gt", f.at().expect_gt(at(1_700_000_000, 0))),
    ] {
        let err = cond.await.unwrap_err();
        assert!(
            matches!(err, Error::ConditionFailed { .. }),
            "{what}: {err}"
        );
    }
    // On a missing instance: NotFound, like every operation.
    let err = repo.instance("nobody").expect_exists().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = repo.fields("nobody").count().max(5).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = repo
        .fields("nobody")
        .count()
        .compare_and_set(0, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!repo.exists("nobody").await.unwrap());
}

rapyer_tests::on_all!(compare_and_set_and_extremes_return_what_they_did);
async fn compare_and_set_and_extremes_return_what_they_did(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let f = repo.fields("s");
    f.count().set(5).await.unwrap();
    assert!(f.count().compare_and_set(5, 6).await.unwrap());
    assert!(!f.count().compare_and_set(5, 7).await.unwrap());
    assert_eq!(f.count().get().await.unwrap(), 6);
    assert_eq!(f.count().max(3).await.unwrap(), 6);
    assert_eq!(f.count().max(i64::MAX).await.unwrap(), i64::MAX);
    assert_eq!(f.count().min(i64::MIN).await.unwrap(), i64::MIN);
    assert_eq!(f.count().get().await.unwrap(), i64::MIN);
    f.ratio().set(1.5).await.unwrap();
    assert_eq!(f.ratio().max(-2.0).await.unwrap(), 1.5);
    assert_eq!(f.ratio().min(-2.0).await.unwrap(), -2.0);
    f.color().set(Color::Red).await.unwrap();
    assert!(
        f.color()
            .compare_and_set(Color::Red, Color::Green)
            .await
            .unwrap()
    );
    assert!(
        !f.color()
            .compare_and_set(Color::Red, Color::DarkBlue)
            .await
            .unwrap()
    );
    assert_eq!(f.color().get().await.unwrap(), Color::Green);
    f.opt_text().clear().await.unwrap();
    assert!(
        f.opt_text()
            .compare_and_set(None, Some("x".into()))
            .await
            .unwrap()
    );
    assert!(
        !f.opt_text()
            .compare_and_set(None, Some("y".into()))
            .await
            .unwrap()
    );
    assert!(
        f.opt_text()
            .compare_and_set(Some("x".into()), None)
            .await
            .unwrap()
    );
    assert_eq!(f.opt_text().get().await.unwrap(), None);

    // A sorted index follows max.
    let gamers = Gamer::repo(&t.client);
    gamers.insert(&Gamer::new("a", "a@x")).await.unwrap();
    gamers.insert(&Gamer::new("b", "b@x")).await.unwrap();
    gamers.fields("b").score().set(3).await.unwrap();
    assert_eq!(gamers.fields("a").score().max(9).await.unwrap(), 9);
    assert_eq!(
        gamers.by_score().top(1).await.unwrap(),
        vec!["a".to_string()]
    );
}

rapyer_tests::on_all!(
    thirty_two_first_wins_award_the_badge_once,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn thirty_two_first_wins_award_the_badge_once(t: TestRedis) {
    // The seed's "first win" badge as one conditional pipeline: the badge goes with the win
    // that finds no win before it; the others record their win alone.
    let repo = saved(&t, "s").await;
    let f = repo.fields("s");
    f.count().set(0).await.unwrap();
    f.list_color().clear().await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (repo, client, barrier) = (repo.clone(), t.client.clone(), barrier.clone());
            tokio::spawn(async move {
                let f = repo.fields("s");
                barrier.wait().await;
                let mut first = client.pipeline();
                first.add(f.count().expect_eq(0));
                first.add(f.count().incr(1));
                first.add(f.list_color().push_back(Color::Red));
                match first.exec().await {
                    Ok(_) => true,
                    Err(Error::ConditionFailed { .. }) => {
                        f.count().incr(1).await.unwrap();
                        false
                    }
                    Err(e) => panic!("{e}"),
                }
            })
        })
        .collect();
    let mut awarded = 0;
    for task in tasks {
        awarded += usize::from(task.await.unwrap());
    }
    assert_eq!(awarded, 1);
    assert_eq!(f.count().get().await.unwrap(), 32, "a win was lost");
    assert_eq!(f.list_color().range(0, -1).await.unwrap(), vec![Color::Red]);
}

rapyer_tests::on_all!(
    compare_and_set_raced_by_64_tasks_has_one_winner_per_round,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn compare_and_set_raced_by_64_tasks_has_one_winner_per_round(t: TestRedis) {
    const TASKS: usize = 64;
    const ROUNDS: i64 = 10;
    let repo = saved(&t, "s").await;
    repo.fields("s").count().set(0).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut wins = Vec::new();
                for round in 0..ROUNDS {
                    barrier.wait().await;
                    let won = repo
                        .fields("s")
                        .count()
                        .compare_and_set(round, round + 1)
                        .await
                        .unwrap();
                    wins.push(won);
                    barrier.wait().await;
                }
                wins
            })
        })
        .collect();
    let mut per_round = vec![0; ROUNDS as usize];
    for task in tasks {
        for (round, won) in task.await.unwrap().into_iter().enumerate() {
            per_round[round] += usize::from(won);
        }
    }
    assert_eq!(per_round, vec![1; ROUNDS as usize]);
    assert_eq!(repo.fields("s").count().get().await.unwrap(), ROUNDS);
}

rapyer_tests::on_all!(
    max_raced_by_64_tasks_ends_at_the_maximum,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn max_raced_by_64_tasks_ends_at_the_maximum(t: TestRedis) {
    let gamers = Gamer::repo(&t.client);
    gamers.insert(&Gamer::new("best", "best@x")).await.unwrap();
    gamers
        .insert(&Gamer::new("other", "other@x"))
        .await
        .unwrap();
    gamers.fields("other").score().set(5_000).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let gamers = gamers.clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(task);
                let mut highest = i64::MIN;
                for _ in 0..20 {
                    let score = rng.i64(-10_000..10_000);
                    highest = highest.max(score);
                    let kept = gamers.fields("best").score().max(score).await.unwrap();
                    assert!(kept >= score);
                }
                highest
            })
        })
        .collect();
    let mut highest = 0; // the starting score
    for task in tasks {
        highest = highest.max(task.await.unwrap());
    }
    assert_eq!(gamers.fields("best").score().get().await.unwrap(), highest);
    // The sorted index followed every change.
    let rank = gamers.by_score().rank("best").await.unwrap();
    assert_eq!(rank, Some(u64::from(highest < 5_000)));
}

rapyer_tests::on_both!(
    the_example_records_racing_first_wins_with_one_badge,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn the_example_records_racing_first_wins_with_one_badge(t: TestRedis) {
    use rapyer_example::game::record_win;
    use rapyer_example::generated::{Achievement, Player, PlayerStats};
    let players = Player::repo(&t.client);
    let p = Player::new(
        "newbie",
        PlayerStats {
            total_games: 0,
            wins: 0,
            losses: 0,
            avg_score: 0.0,
        },
    );
    players.insert(&p).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (players, id, barrier) = (players.clone(), p.id, barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                record_win(&players, &id, 10).await.unwrap()
            })
        })
        .collect();
    let mut badges = 0;
    for task in tasks {
        badges += usize::from(task.await.unwrap());
    }
    let stored = players.get(&p.id).await.unwrap().unwrap();
    assert_eq!(badges, 1);
    assert_eq!(stored.achievements, vec![Achievement::FirstWin]);
    assert_eq!((stored.wins, stored.score), (32, 320));
}
