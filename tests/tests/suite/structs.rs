//! A struct field read and written whole through its handle: `get` and `set`, one step each,
//! every leaf's index following.

use rapyer::Error;
use rapyer_tests::fixtures::indexes::{Gamer, Stats};
use rapyer_tests::harness::TestRedis;

fn stats(wins: i64, title: Option<&str>) -> Stats {
    let mut s = Stats::new();
    s.wins = wins;
    s.rating = wins as f64 / 4.0;
    s.title = title.map(String::from);
    s
}

rapyer_tests::on_all!(a_struct_is_read_and_written_whole_with_its_indexes);
async fn a_struct_is_read_and_written_whole_with_its_indexes(t: TestRedis) {
    let gamers = Gamer::repo(&t.client);
    for h in ["a", "b"] {
        gamers
            .insert(&Gamer::new(h, format!("{h}@x")))
            .await
            .unwrap();
    }
    let a = gamers.fields("a").stats();
    a.set(&stats(7, Some("champ"))).await.unwrap();
    assert_eq!(a.get().await.unwrap(), stats(7, Some("champ")));
    assert_eq!(
        gamers.get("a").await.unwrap().unwrap().stats,
        stats(7, Some("champ"))
    );
    // The sorted index on `stats.wins` followed.
    assert_eq!(
        gamers.by_stats_wins().top(1).await.unwrap(),
        vec!["a".to_string()]
    );
    // An unset optional leaf is cleared.
    a.set(&stats(1, None)).await.unwrap();
    assert_eq!(a.get().await.unwrap(), stats(1, None));
    gamers.fields("b").stats().wins().set(3).await.unwrap();
    assert_eq!(
        gamers.by_stats_wins().top(1).await.unwrap(),
        vec!["b".to_string()]
    );

    // In a pipeline: all or nothing with the rest.
    let mut p = t.client.pipeline();
    p.add(a.set(&stats(9, Some("x"))));
    p.add(gamers.fields("a").score().expect_eq(12_345));
    let err = p.exec().await.unwrap_err();
    assert!(matches!(err, Error::ConditionFailed { .. }), "{err}");
    assert_eq!(a.get().await.unwrap(), stats(1, None));
    let mut p = t.client.pipeline();
    let set = p.add(a.set(&stats(9, Some("x"))));
    let got = p.add(a.get());
    let mut results = p.exec().await.unwrap();
    results.take(set).unwrap();
    assert_eq!(results.take(got).unwrap(), stats(9, Some("x")));

    // A missing instance: NotFound, nothing created.
    let ghost = gamers.fields("ghost").stats();
    assert!(matches!(
        ghost.set(&stats(1, None)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(ghost.get().await, Err(Error::NotFound { .. })));
    assert!(!gamers.exists("ghost").await.unwrap());
}
