//! References between models (`ref<Model>`): stored as the target's key, fetched one by one or
//! many in one read, indexed by a lookup index; a dangling reference fetches as `None`.

use rapyer::Ref;
use rapyer_tests::fixtures::indexes::{Gamer, Guild, Membership, Region};
use rapyer_tests::harness::TestRedis;

rapyer_tests::on_all!(references_round_trip_fetch_and_dangle);
async fn references_round_trip_fetch_and_dangle(t: TestRedis) {
    let (gamers, guilds, memberships) = (
        Gamer::repo(&t.client),
        Guild::repo(&t.client),
        Membership::repo(&t.client),
    );
    let (ann, bob) = (Gamer::new("ann", "ann@x"), Gamer::new("bob", "bob@x"));
    let (red, blue) = (
        Guild::new("red", Region::Eu),
        Guild::new("blue", Region::Us),
    );
    for g in [&ann, &bob] {
        gamers.insert(g).await.unwrap();
    }
    for g in [&red, &blue] {
        guilds.insert(g).await.unwrap();
    }
    let mut m = Membership::new(Ref::to(&ann));
    m.guild = Some(Ref::to(&red));
    m.past = vec![
        Ref::to(&blue),
        Ref::to(&red),
        Ref::new(rapyer::Uuid::new_v4()),
    ];
    m.friends.insert(Ref::to(&bob));
    memberships.insert(&m).await.unwrap();
    assert_eq!(memberships.get(&m.id).await.unwrap().as_ref(), Some(&m));

    // One target, then many in one read (the unknown one dangles).
    assert_eq!(m.gamer.get(&gamers).await.unwrap().as_ref(), Some(&ann));
    let past = Ref::get_all(&m.past, &guilds).await.unwrap();
    assert_eq!(past, vec![Some(blue.clone()), Some(red.clone()), None]);

    // A deleted target leaves the reference dangling; nothing else changes.
    guilds.delete(&red.id).await.unwrap();
    assert_eq!(m.guild.as_ref().unwrap().get(&guilds).await.unwrap(), None);
    assert_eq!(memberships.get(&m.id).await.unwrap().as_ref(), Some(&m));

    // The lookup index lists the memberships of a gamer, and follows a field operation.
    assert_eq!(
        memberships
            .by_gamer()
            .find(Ref::to(&ann), 0, 10)
            .await
            .unwrap(),
        vec![m.id]
    );
    memberships
        .fields(&m.id)
        .gamer()
        .set(Ref::to(&bob))
        .await
        .unwrap();
    assert!(
        memberships
            .by_gamer()
            .find(Ref::to(&ann), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        memberships
            .by_gamer()
            .find(Ref::to(&bob), 0, 10)
            .await
            .unwrap(),
        vec![m.id]
    );
    // A set of references, by operation.
    let friends = memberships.fields(&m.id).friends();
    assert!(friends.add(Ref::to(&ann)).await.unwrap());
    assert_eq!(friends.len().await.unwrap(), 2);
}

#[tokio::test]
async fn fetching_many_references_is_one_read() {
    let t = TestRedis::new().await;
    let gamers = Gamer::repo(&t.client);
    let mut refs = Vec::new();
    for i in 0..50 {
        let g = Gamer::new(format!("g{i}"), format!("g{i}@x"));
        gamers.insert(&g).await.unwrap();
        refs.push(Ref::to(&g));
    }
    gamers.get("g0").await.unwrap(); // the read is warmed up
    let before = t.atomic_steps().await;
    let found = Ref::get_all(&refs, &gamers).await.unwrap();
    assert_eq!(
        t.atomic_steps().await - before,
        1,
        "one read for 50 references"
    );
    assert!(found.iter().all(Option::is_some));
}
