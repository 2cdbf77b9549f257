//! What the review calls compatible really is, and what it calls breaking really breaks: for each
//! review case, code generated from the old schema writes into a real Redis and code generated
//! from the new one reads (backward), and the other way round (forward).

use rapyer::Error;
use rapyer_tests::harness::TestRedis;
use rapyer_tests::review_cases as cases;
use redis::AsyncCommands;

fn missing(err: &Error, field: &str) -> bool {
    matches!(err, Error::Decode { field: f, .. } if f == field)
}

#[tokio::test]
async fn fields_added() {
    use cases::fields_added::{new, old};
    let t = TestRedis::new().await;
    // Backward (RS010): defaults, optionals, containers and defaultable structs fill in; a
    // required field without default does not.
    let before = old::Player::new("ann", old::Stats::new(3));
    old::Player::repo(&t.client).insert(&before).await.unwrap();
    let players = new::Player::repo(&t.client);
    let f = players.fields(&before.id);
    assert_eq!(f.level().get().await.unwrap(), 1);
    assert_eq!(f.title().get().await.unwrap(), None);
    assert!(f.tags().range(0, -1).await.unwrap().is_empty());
    assert_eq!(f.extra().note().get().await.unwrap(), None);
    assert_eq!(f.stats().losses().get().await.unwrap(), 0);
    assert_eq!(f.stats().wins().get().await.unwrap(), 3);
    let err = players.get(&before.id).await.unwrap_err();
    assert!(missing(&err, "rating"), "breaking as reviewed: {err}");
    // Forward: old code ignores the fields it does not know.
    let mut after = new::Player::new("bob", new::Stats::new(1), 2.5);
    after.level = 9;
    after.tags = vec!["x".into()];
    players.insert(&after).await.unwrap();
    let read = old::Player::repo(&t.client)
        .get(&after.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.name.as_str(), read.stats.wins), ("bob", 1));
}

#[tokio::test]
async fn fields_removed() {
    use cases::fields_removed::{new, old};
    let t = TestRedis::new().await;
    // Backward (RS011): new code ignores the stored fields it no longer has.
    let mut before = old::Player::new("ann", 1.5, "a");
    before.level = 4;
    old::Player::repo(&t.client).insert(&before).await.unwrap();
    let players = new::Player::repo(&t.client);
    assert_eq!(
        players.fields(&before.id).name().get().await.unwrap(),
        "ann"
    );
    // (`nickname` is new and required: RS010 breaking, as reviewed.)
    let err = players.get(&before.id).await.unwrap_err();
    assert!(missing(&err, "nickname"), "{err}");
    // Forward: `level` had a default (old code reads it); `rating` had none (breaking).
    let after = new::Player::new("bob", "b");
    players.insert(&after).await.unwrap();
    let old_players = old::Player::repo(&t.client);
    assert_eq!(
        old_players.fields(&after.id).level().get().await.unwrap(),
        1
    );
    let err = old_players.get(&after.id).await.unwrap_err();
    assert!(missing(&err, "rating"), "{err}");
}

#[tokio::test]
async fn field_types() {
    use cases::field_types::{new, old};
    let t = TestRedis::new().await;
    let mut before = old::Player::new("ann", 5, old::Tier::Gold, "abc", 7);
    before.level = 3;
    old::Player::repo(&t.client).insert(&before).await.unwrap();
    let f = new::Player::repo(&t.client).fields(&before.id);
    // RS012 widenings read old values.
    assert_eq!(f.score().get().await.unwrap(), 5.0);
    assert_eq!(f.tier().get().await.unwrap(), "gold");
    // RS012 string -> int does not.
    assert!(matches!(f.code().get().await, Err(Error::Decode { .. })));
    // RS013 with a default reads it; without one, fails.
    assert_eq!(f.title().get().await.unwrap(), "");
    assert!(matches!(f.motto().get().await, Err(Error::Decode { .. })));
    // RS014 reads old values.
    assert_eq!(f.level().get().await.unwrap(), Some(3));
    assert_eq!(f.rank().get().await.unwrap(), Some(7));

    // Forward: old code cannot read a float, a free string as an enum, or a missing value
    // without default; it reads a missing value with a default.
    let mut after = new::Player::new("bob", 2.5, "bronze", 1, "m");
    after.rank = None;
    after.level = None;
    new::Player::repo(&t.client).insert(&after).await.unwrap();
    let f = old::Player::repo(&t.client).fields(&after.id);
    assert!(matches!(f.score().get().await, Err(Error::Decode { .. })));
    assert!(matches!(f.tier().get().await, Err(Error::Decode { .. })));
    assert!(matches!(f.rank().get().await, Err(Error::Decode { .. })));
    assert_eq!(f.level().get().await.unwrap(), 1);
}

#[tokio::test]
async fn defaults() {
    use cases::defaults::{new, old};
    let t = TestRedis::new().await;
    let before = old::Player::new("ann", 4);
    old::Player::repo(&t.client).insert(&before).await.unwrap();
    let players = new::Player::repo(&t.client);
    // Data written by the old code has every field: read as written (RS015/16/17 compatible).
    let read = players.get(&before.id).await.unwrap().unwrap();
    assert_eq!((read.level, read.score, read.region.as_str()), (4, 0, "eu"));
    // Instances that lack a field (older still): the changed default applies (RS017), the removed
    // one is gone (RS016).
    let key = players.key_of(&before.id).unwrap();
    let _: () = t
        .raw()
        .await
        .hdel(&key, &["region", "score"])
        .await
        .unwrap();
    assert_eq!(
        players.fields(&before.id).region().get().await.unwrap(),
        "us"
    );
    assert!(matches!(
        players.fields(&before.id).score().get().await,
        Err(Error::Decode { .. })
    ));
}

#[tokio::test]
async fn enum_variants() {
    use cases::variants::{new, old};
    let t = TestRedis::new().await;
    // RS021: a removed variant stored by old code cannot be read.
    let gone = old::Player::new(old::Badge::Streak10);
    old::Player::repo(&t.client).insert(&gone).await.unwrap();
    let err = new::Player::repo(&t.client)
        .get(&gone.id)
        .await
        .unwrap_err();
    assert!(missing(&err, "badge"), "{err}");
    // RS020: a new variant stored by new code cannot be read by old code.
    let added = new::Player::new(new::Badge::TopPlayer);
    new::Player::repo(&t.client).insert(&added).await.unwrap();
    assert!(old::Player::repo(&t.client).get(&added.id).await.is_err());
    // A variant both know travels both ways.
    let both = old::Player::new(old::Badge::FirstWin);
    old::Player::repo(&t.client).insert(&both).await.unwrap();
    let read = new::Player::repo(&t.client)
        .get(&both.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.badge, new::Badge::FirstWin);
}

#[tokio::test]
async fn keys_and_prefixes() {
    use cases::keys::{new, old};
    let t = TestRedis::new().await;
    // RS031: another prefix, so the new code never finds the old instance.
    let p = old::Player::new("ann");
    old::Player::repo(&t.client).insert(&p).await.unwrap();
    assert_eq!(new::Player::repo(&t.client).get(&p.id).await.unwrap(), None);
    assert_eq!(new::Player::repo(&t.client).count().await.unwrap(), 0);
    // RS030: another key field, so the instance is under a key the new code never builds.
    old::Account::repo(&t.client)
        .insert(&old::Account::new(1, "bob"))
        .await
        .unwrap();
    assert_eq!(
        new::Account::repo(&t.client).get("bob").await.unwrap(),
        None
    );
    // RS032: another bucket count, so other hash tags: the new code never finds the old data.
    let ledgers = old::Ledger::repo(&t.client);
    ledgers.insert(&old::Ledger::new("l1", 5)).await.unwrap();
    assert!(ledgers.get("l1").await.unwrap().is_some());
    assert_eq!(new::Ledger::repo(&t.client).get("l1").await.unwrap(), None);
    assert_eq!(new::Ledger::repo(&t.client).count().await.unwrap(), 0);
}

#[tokio::test]
async fn indexes_and_ttl() {
    use cases::indexes::{new, old};
    let t = TestRedis::new().await;
    let ranked = old::Ranked::repo(&t.client);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        ranked
            .insert(&old::Ranked::new(*name, i as i64, 10 - i as i64))
            .await
            .unwrap();
    }
    // RS040: compatible, but the new index is empty until reindex.
    let repo = new::Ranked::repo(&t.client);
    assert!(repo.by_level().top(3).await.unwrap().is_empty());
    let report = repo.reindex().await.unwrap();
    assert_eq!(report.instances, 3);
    let top: Vec<String> = repo
        .by_level()
        .top_instances(3)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(top, ["a", "b", "c"]);
    // RS042: the lookup index on `name` works after the same reindex.
    assert_eq!(repo.by_name().count("b").await.unwrap(), 1);
    // RS050: an existing instance keeps its expiry until it is saved again.
    let p = old::Player::new("p");
    old::Player::repo(&t.client).insert(&p).await.unwrap();
    let players = new::Player::repo(&t.client);
    let key = players.key_of(&p.id).unwrap();
    let ttl: i64 = t.raw().await.pttl(&key).await.unwrap();
    assert!(ttl <= 3_600_000, "{ttl}");
    let read = players.get(&p.id).await.unwrap().unwrap();
    players.save(&read).await.unwrap();
    let ttl: i64 = t.raw().await.pttl(&key).await.unwrap();
    assert!(ttl > 3_600_000, "{ttl}");
}

#[tokio::test]
async fn renamed_fields() {
    use cases::renames::{new, old};
    let t = TestRedis::new().await;
    let mut before = old::Player::new("ann", "a");
    before.points = 5;
    old::Player::repo(&t.client).insert(&before).await.unwrap();
    let players = new::Player::repo(&t.client);
    // RS060 backward: read from the old name.
    let read = players.get(&before.id).await.unwrap().unwrap();
    assert_eq!((read.score, read.nickname.as_str()), (5, "a"));
    assert_eq!(players.fields(&before.id).score().get().await.unwrap(), 5);
    // A field operation moves the value to the new name first, atomically.
    assert_eq!(players.fields(&before.id).score().incr(1).await.unwrap(), 6);
    let key = players.key_of(&before.id).unwrap();
    let old_name: bool = t.raw().await.hexists(&key, "points").await.unwrap();
    assert!(!old_name, "the old name was left behind");
    // ...also inside a pipeline.
    let mut p = t.client.pipeline();
    let nick = p.add(players.fields(&before.id).nickname().get());
    p.add(players.fields(&before.id).nickname().set("z"));
    let mut r = p.exec().await.unwrap();
    assert_eq!(r.take(nick).unwrap(), "a");
    assert_eq!(
        players.get(&before.id).await.unwrap().unwrap().nickname,
        "z"
    );
    // RS060 forward: old code does not see the value stored under the new name.
    let mut after = new::Player::new("bob", "b");
    after.score = 9;
    players.insert(&after).await.unwrap();
    let f = old::Player::repo(&t.client).fields(&after.id);
    assert_eq!(
        f.points().get().await.unwrap(),
        0,
        "old code reads its default, not 9"
    );
    assert!(matches!(f.nick().get().await, Err(Error::Decode { .. })));
}

#[tokio::test]
async fn a_renamed_indexed_field_is_reindexed_from_its_old_name() {
    use cases::renames::{new, old};
    let t = TestRedis::new().await;
    let mut written_before = Vec::new();
    for (i, points) in [(0, 30), (1, 10), (2, 20)] {
        let mut p = old::Player::new(format!("p{i}"), format!("n{i}"));
        p.points = points;
        old::Player::repo(&t.client).insert(&p).await.unwrap();
        written_before.push(p.id);
    }
    let players = new::Player::repo(&t.client);
    // RS062: the index follows the new name and starts empty.
    assert!(players.by_score().top(10).await.unwrap().is_empty());
    let report = players.reindex().await.unwrap();
    assert_eq!(report.written, 3, "{report:?}");
    assert_eq!(report.removed, 0, "{report:?}");
    let ids = players.by_score().top(10).await.unwrap();
    assert_eq!(
        ids,
        vec![written_before[0], written_before[2], written_before[1]]
    );
    // The instances still hold the old name; sweeping again keeps their entries.
    let again = players.reindex().await.unwrap();
    assert_eq!(again.removed, 0, "{again:?}");
    assert_eq!(
        players.by_score().count(i64::MIN, i64::MAX).await.unwrap(),
        3
    );
}

#[tokio::test]
async fn models_added_removed_and_renamed_with_a_pinned_prefix() {
    use cases::models::{new, old};
    let t = TestRedis::new().await;
    // RS001 with a pinned prefix: the renamed model reads the old one's data.
    let clan = old::Clan::new("wolves");
    old::Clan::repo(&t.client).insert(&clan).await.unwrap();
    let team = new::Team::repo(&t.client)
        .get(&clan.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(team.name, "wolves");
    // RS002: the removed model's data stays, orphaned.
    let guild = old::Guild::new("g");
    let guilds = old::Guild::repo(&t.client);
    guilds.insert(&guild).await.unwrap();
    let key = guilds.key_of(&guild.id).unwrap();
    let kept: bool = t.raw().await.exists(&key).await.unwrap();
    assert!(kept);
    // Unchanged models and types travel both ways (RS003-RS006 touch no data).
    use cases::types::{new as tn, old as to};
    let thing = to::Thing::new("t");
    to::Thing::repo(&t.client).insert(&thing).await.unwrap();
    assert_eq!(
        tn::Thing::repo(&t.client)
            .get(&thing.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "t"
    );
    let p = new::Player::new("p");
    new::Player::repo(&t.client).insert(&p).await.unwrap();
    assert_eq!(
        old::Player::repo(&t.client)
            .get(&p.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "p"
    );
}

#[tokio::test]
async fn the_leaderboard_v2_to_v3_example() {
    use cases::leaderboard_v3::{new, old};
    let t = TestRedis::new().await;
    let mut v2 = old::Player::new("ann", old::PlayerStats::new(1, 1, 0, 10.0));
    v2.inventory_count = 7;
    v2.achievements = vec![old::Achievement::FirstWin];
    old::Player::repo(&t.client).insert(&v2).await.unwrap();
    let players = new::Player::repo(&t.client);
    let v3 = players.get(&v2.id).await.unwrap().unwrap();
    assert_eq!(v3.items, 7, "renamed from inventory_count");
    assert_eq!(v3.region, new::Region::Eu, "new field, its default");
    assert_eq!(v3.stats.best_score, 0);
    assert_eq!(v3.achievements, [new::Achievement::FirstWin]);
    assert_eq!(players.writer_version(&v2.id).await.unwrap(), Some(2));
    players.save(&v3).await.unwrap();
    assert_eq!(players.writer_version(&v2.id).await.unwrap(), Some(3));
    // The breaking change of the review: old code cannot read the new variant.
    players
        .fields(&v2.id)
        .achievements()
        .push_back(new::Achievement::Champion)
        .await
        .unwrap();
    assert!(old::Player::repo(&t.client).get(&v2.id).await.is_err());
}
