//! Atomic field operations of every schema type against a real redis-server: results are what
//! Redis computed, missing instances are never created, bad data and overflow are typed errors.

use std::collections::{BTreeMap, BTreeSet};

use rapyer::Error;
use rapyer_tests::fixtures::all_types::{Color, Defaults, Sample};
use rapyer_tests::fixtures::keys_and_ttl::{Account, Counter, Session};
use rapyer_tests::harness::TestRedis;
use rapyer_tests::samples::{at, empty_sample, full_sample, inner};
use redis::AsyncCommands;

/// A saved sample named `name`, with its repository.
async fn saved(t: &TestRedis, name: &str) -> rapyer_tests::fixtures::all_types::SampleRepo {
    let repo = Sample::repo(&t.client);
    repo.save(&full_sample(name)).await.unwrap();
    repo
}

rapyer_tests::on_all!(int_operations_return_what_redis_computed);
async fn int_operations_return_what_redis_computed(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let count = repo.fields("s").count();
    count.set(40).await.unwrap();
    assert_eq!(count.incr(2).await.unwrap(), 42);
    assert_eq!(count.decr(50).await.unwrap(), -8);
    assert_eq!(count.get().await.unwrap(), -8);

    // Overflow is refused and changes nothing, both ways.
    count.set(i64::MAX - 1).await.unwrap();
    assert_eq!(count.incr(1).await.unwrap(), i64::MAX);
    let err = count.incr(1).await.unwrap_err();
    assert!(
        matches!(err, Error::Overflow { ref field, .. } if field == "count"),
        "{err}"
    );
    count.set(i64::MIN).await.unwrap();
    assert!(matches!(count.decr(1).await, Err(Error::Overflow { .. })));
    assert!(matches!(
        count.decr(i64::MIN).await,
        Err(Error::Overflow { .. })
    ));
    assert_eq!(count.get().await.unwrap(), i64::MIN);

    // A nested struct leaf, two levels down.
    let n = repo.fields("s").nested().inner().n();
    assert_eq!(n.incr(5).await.unwrap(), 12);
    let got = repo.get("s").await.unwrap().unwrap();
    assert_eq!((got.count, got.nested.inner.n), (i64::MIN, 12));
}

rapyer_tests::on_all!(a_field_named_like_a_repository_method_keeps_both);
async fn a_field_named_like_a_repository_method_keeps_both(t: TestRedis) {
    let repo = saved(&t, "s").await;
    // `count` is a field of Sample and a method of every repository: the method wins the
    // shortcut, the field stays reachable through `fields(pk)`.
    assert_eq!(repo.count().await.unwrap(), 1);
    assert_eq!(
        repo.fields("s").count().decr(1).await.unwrap(),
        i64::MAX - 1
    );
}

rapyer_tests::on_all!(float_operations_refuse_non_finite_values);
async fn float_operations_refuse_non_finite_values(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let ratio = repo.fields("s").ratio();
    ratio.set(0.1).await.unwrap();
    let sum = ratio.incr(0.2).await.unwrap();
    assert!((sum - 0.3).abs() < 1e-15, "{sum}");
    assert_eq!(ratio.get().await.unwrap(), sum);

    assert!(matches!(
        ratio.set(f64::NAN).await,
        Err(Error::Encode { .. })
    ));
    assert!(matches!(
        ratio.incr(f64::INFINITY).await,
        Err(Error::Encode { .. })
    ));
    ratio.set(1e308).await.unwrap();
    let err = ratio.incr(1e308).await.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err}");
    assert_eq!(ratio.get().await.unwrap(), 1e308);
}

/// A random finite double of any magnitude: subnormals, tiny, ordinary and huge exponents.
fn any_double(rng: &mut fastrand::Rng) -> f64 {
    let sign = if rng.bool() { 1u64 << 63 } else { 0 };
    let exponent = match rng.u8(0..4) {
        0 => 0,                   // subnormal (or zero)
        1 => rng.u64(1..60),      // tiny
        2 => rng.u64(1000..1060), // ordinary
        _ => rng.u64(1990..2047), // huge
    };
    f64::from_bits(sign | exponent << 52 | rng.u64(0..1 << 52))
}

rapyer_tests::on_all!(float_increments_are_exactly_rusts_f64_sums);
async fn float_increments_are_exactly_rusts_f64_sums(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let ratio = repo.fields("s").ratio();
    let ratios = repo.fields("s").map_ratio();
    let key = repo.key_of("s").unwrap();
    let mut conn = t.raw().await;

    // The two cases HINCRBYFLOAT gets wrong: 17 decimals lose 1e-20, and 1e300 is 300 digits.
    ratio.set(1e-20).await.unwrap();
    assert_eq!(ratio.incr(1e-20).await.unwrap(), 2e-20);
    ratio.set(1e300).await.unwrap();
    assert_eq!(ratio.incr(1e300).await.unwrap(), 2e300);
    let text: String = conn.hget(&key, "ratio").await.unwrap();
    assert_eq!(text, "2e+300");

    let mut rng = fastrand::Rng::with_seed(0xf10a7);
    let (mut field, mut entry) = (2e300, 0.0f64);
    for step in 0..400 {
        let delta = any_double(&mut rng);
        // Sometimes restart from a random value, so that large and tiny sums both occur.
        if step % 50 == 0 {
            field = any_double(&mut rng);
            ratio.set(field).await.unwrap();
        }
        let expected = field + delta;
        let got = ratio.incr(delta).await;
        if expected.is_finite() {
            let got = got.unwrap();
            assert_eq!(got.to_bits(), expected.to_bits(), "{field:e} + {delta:e}");
            field = expected;
        } else {
            assert!(matches!(got, Err(Error::Overflow { .. })), "{got:?}");
        }
        // Whatever text is stored, every reader parses it back to the same double.
        let text: String = conn.hget(&key, "ratio").await.unwrap();
        assert_eq!(
            text.parse::<f64>().unwrap().to_bits(),
            field.to_bits(),
            "{text}"
        );
        assert_eq!(ratio.get().await.unwrap().to_bits(), field.to_bits());

        // A float map value, inside a pipeline of two (prechecked as a batch).
        let delta = any_double(&mut rng) * if step % 2 == 0 { 1.0 } else { 1e-300 };
        let (once, twice) = (entry + delta, entry + delta + delta);
        let mut p = t.client.pipeline();
        let first = p.add(ratios.incr("k", delta));
        let second = p.add(ratios.incr("k", delta));
        match p.exec().await {
            Ok(mut results) => {
                assert!(
                    twice.is_finite(),
                    "{entry:e} + 2 x {delta:e} should overflow"
                );
                assert_eq!(results.take(first).unwrap().to_bits(), once.to_bits());
                assert_eq!(results.take(second).unwrap().to_bits(), twice.to_bits());
                entry = twice;
            }
            Err(Error::Overflow { .. }) => assert!(!twice.is_finite()),
            Err(e) => panic!("{e}"),
        }
        let stored = repo.get("s").await.unwrap().unwrap().map_ratio;
        assert_eq!(stored.get("k").map(|v| v.to_bits()), Some(entry.to_bits()));
    }
}

rapyer_tests::on_all!(every_scalar_type_sets_and_gets);
async fn every_scalar_type_sets_and_gets(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let f = repo.fields("s");
    f.flag().set(false).await.unwrap();
    f.text().set("héllo").await.unwrap();
    f.raw().set(vec![0u8, 255]).await.unwrap();
    f.at().set(at(1_700_000_000, 5_000)).await.unwrap();
    let id = rapyer::Uuid::new_v4();
    f.ident().set(id).await.unwrap();
    f.color().set(Color::DarkBlue).await.unwrap();
    f.data()
        .set(rapyer::serde_json::json!({"x": [1, null]}))
        .await
        .unwrap();
    assert!(!f.flag().get().await.unwrap());
    assert_eq!(f.text().get().await.unwrap(), "héllo");
    assert_eq!(f.raw().get().await.unwrap(), vec![0, 255]);
    assert_eq!(f.at().get().await.unwrap(), at(1_700_000_000, 5_000));
    assert_eq!(f.ident().get().await.unwrap(), id);
    assert_eq!(f.color().get().await.unwrap(), Color::DarkBlue);
    assert_eq!(
        f.data().get().await.unwrap(),
        rapyer::serde_json::json!({"x": [1, null]})
    );
    // The whole instance agrees with the field operations.
    let got = repo.get("s").await.unwrap().unwrap();
    assert_eq!(
        (got.flag, got.color, got.ident),
        (false, Color::DarkBlue, id)
    );
}

rapyer_tests::on_all!(optional_fields_set_clear_and_get);
async fn optional_fields_set_clear_and_get(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let f = repo.fields("s");
    assert_eq!(f.opt_count().get().await.unwrap(), Some(i64::MIN));
    assert!(f.opt_count().clear().await.unwrap());
    assert!(!f.opt_count().clear().await.unwrap());
    assert_eq!(f.opt_count().get().await.unwrap(), None);
    f.opt_count().set(3).await.unwrap();
    assert_eq!(f.opt_count().get().await.unwrap(), Some(3));
    // A struct in an optional is one JSON field.
    f.opt_inner().set(inner(9)).await.unwrap();
    assert_eq!(f.opt_inner().get().await.unwrap(), Some(inner(9)));
    f.opt_inner().clear().await.unwrap();
    f.opt_color().set(Color::Red).await.unwrap();
    let got = repo.get("s").await.unwrap().unwrap();
    assert_eq!(
        (got.opt_count, got.opt_inner, got.opt_color),
        (Some(3), None, Some(Color::Red))
    );
}

rapyer_tests::on_all!(defaults_apply_to_fields_an_old_instance_lacks);
async fn defaults_apply_to_fields_an_old_instance_lacks(t: TestRedis) {
    let repo = Defaults::repo(&t.client);
    let d = Defaults::new("d");
    repo.save(&d).await.unwrap();
    // An instance written before these fields existed: remove them behind rapyer's back.
    let key = repo.key_of(&d.id).unwrap();
    let mut raw = t.raw().await;
    let _: () = raw
        .hdel(&key, &["d_int", "d_float", "d_text"])
        .await
        .unwrap();
    let f = repo.fields(&d.id);
    assert_eq!(f.d_int().get().await.unwrap(), -5);
    assert_eq!(f.d_text().get().await.unwrap(), "héllo \"world\"");
    // An increment starts from the default, not from Redis's 0.
    assert_eq!(f.d_int().incr(1).await.unwrap(), -4);
    assert_eq!(f.d_float().incr(0.5).await.unwrap(), 3.0);
    // A required field without default that is missing is reported, not invented.
    let _: () = raw.hdel(&key, "required").await.unwrap();
    let err = f.required().get().await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref field, ref reason, .. } if field == "required" && reason.contains("missing")),
        "{err}"
    );
}

rapyer_tests::on_all!(list_operations);
async fn list_operations(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    repo.save(&empty_sample("s")).await.unwrap();
    let list = repo.fields("s").list_text();
    assert_eq!(list.len().await.unwrap(), 0);
    assert_eq!(list.push_back("b").await.unwrap(), 1);
    assert_eq!(list.push_front("a").await.unwrap(), 2);
    assert_eq!(
        list.extend(["c", "b", "d"].map(String::from))
            .await
            .unwrap(),
        5
    );
    assert_eq!(list.extend(Vec::new()).await.unwrap(), 5);
    assert_eq!(list.range(0, -1).await.unwrap(), ["a", "b", "c", "b", "d"]);
    assert_eq!(list.get(1).await.unwrap().as_deref(), Some("b"));
    assert_eq!(list.get(-1).await.unwrap().as_deref(), Some("d"));
    assert_eq!(list.get(99).await.unwrap(), None);
    list.set(0, "A").await.unwrap();
    let err = list.set(5, "x").await.unwrap_err();
    assert!(
        matches!(err, Error::IndexOutOfRange { index: 5, .. }),
        "{err}"
    );
    assert_eq!(list.remove("b", 0).await.unwrap(), 2);
    assert_eq!(list.range(0, -1).await.unwrap(), ["A", "c", "d"]);
    assert_eq!(list.pop_back().await.unwrap().as_deref(), Some("d"));
    assert_eq!(list.pop_front().await.unwrap().as_deref(), Some("A"));
    list.extend(["e", "f", "g"].map(String::from))
        .await
        .unwrap();
    list.trim(1, 2).await.unwrap();
    assert_eq!(list.range(0, -1).await.unwrap(), ["e", "f"]);
    assert_eq!(repo.get("s").await.unwrap().unwrap().list_text, ["e", "f"]);
    list.clear().await.unwrap();
    assert_eq!(list.pop_back().await.unwrap(), None);
    assert_eq!(list.len().await.unwrap(), 0);

    // Elements stored as JSON (structs, nested lists), and more than Lua can unpack at once.
    let structs = repo.fields("s").list_inner();
    structs.push_back(inner(1)).await.unwrap();
    structs.push_back(inner(2)).await.unwrap();
    assert_eq!(structs.remove(inner(1), 1).await.unwrap(), 1);
    assert_eq!(structs.range(0, -1).await.unwrap(), [inner(2)]);
    let big: Vec<Vec<i64>> = (0..5_000).map(|i| vec![i, -i]).collect();
    assert_eq!(
        repo.fields("s")
            .list_list()
            .extend(big.clone())
            .await
            .unwrap(),
        5_000
    );
    assert_eq!(repo.get("s").await.unwrap().unwrap().list_list, big);
}

rapyer_tests::on_all!(set_operations);
async fn set_operations(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    repo.save(&empty_sample("s")).await.unwrap();
    let set = repo.fields("s").set_color();
    assert!(set.add(Color::Red).await.unwrap());
    assert!(!set.add(Color::Red).await.unwrap());
    assert_eq!(set.add_many([Color::Red, Color::Green]).await.unwrap(), 1);
    assert_eq!(set.add_many([]).await.unwrap(), 0);
    assert!(set.contains(Color::Green).await.unwrap());
    assert!(!set.contains(Color::DarkBlue).await.unwrap());
    assert_eq!(set.len().await.unwrap(), 2);
    assert_eq!(
        set.members().await.unwrap(),
        BTreeSet::from([Color::Red, Color::Green])
    );
    assert!(set.remove(Color::Red).await.unwrap());
    assert!(!set.remove(Color::Red).await.unwrap());
    assert_eq!(set.pop().await.unwrap(), Some(Color::Green));
    assert_eq!(set.pop().await.unwrap(), None);
    let ints = repo.fields("s").set_count();
    assert_eq!(ints.add_many(0..3_000).await.unwrap(), 3_000);
    ints.clear().await.unwrap();
    assert_eq!(ints.len().await.unwrap(), 0);
}

rapyer_tests::on_all!(map_operations);
async fn map_operations(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    repo.save(&empty_sample("s")).await.unwrap();
    let map = repo.fields("s").map_text();
    assert!(map.insert("a", "1").await.unwrap());
    assert!(!map.insert("a", "2").await.unwrap());
    assert_eq!(
        map.insert_many([("b", "x".to_string()), ("c", "y".to_string())])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        map.insert_many(Vec::<(String, String)>::new())
            .await
            .unwrap(),
        0
    );
    assert_eq!(map.get("a").await.unwrap().as_deref(), Some("2"));
    assert_eq!(map.get("zz").await.unwrap(), None);
    assert!(map.contains("b").await.unwrap());
    assert!(map.remove("b").await.unwrap());
    assert!(!map.contains("b").await.unwrap());
    assert_eq!(map.len().await.unwrap(), 2);
    let mut keys = map.keys().await.unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(
        map.entries().await.unwrap(),
        BTreeMap::from([("a".into(), "2".into()), ("c".into(), "y".into())])
    );
    map.clear().await.unwrap();
    assert_eq!(map.len().await.unwrap(), 0);

    let ints = repo.fields("s").map_count();
    assert_eq!(ints.incr("hits", 5).await.unwrap(), 5);
    assert_eq!(ints.incr("hits", -7).await.unwrap(), -2);
    ints.insert("max", i64::MAX).await.unwrap();
    assert!(matches!(
        ints.incr("max", 1).await,
        Err(Error::Overflow { .. })
    ));
    let floats = repo.fields("s").map_ratio();
    assert_eq!(floats.incr("x", 1.5).await.unwrap(), 1.5);
    let structs = repo.fields("s").map_inner();
    structs.insert("i", inner(4)).await.unwrap();
    assert_eq!(structs.get("i").await.unwrap(), Some(inner(4)));
    let got = repo.get("s").await.unwrap().unwrap();
    assert_eq!(
        got.map_count,
        BTreeMap::from([("hits".into(), -2), ("max".into(), i64::MAX)])
    );
    assert_eq!(got.map_inner, BTreeMap::from([("i".into(), inner(4))]));
}

rapyer_tests::on_all!(operations_on_a_missing_instance_create_nothing);
async fn operations_on_a_missing_instance_create_nothing(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let f = repo.fields("ghost");
    let errors = vec![
        f.count().incr(1).await.err(),
        f.ratio().incr(1.0).await.err(),
        f.text().set("x").await.err(),
        f.text().get().await.err(),
        f.opt_count().set(1).await.err(),
        f.opt_count().clear().await.err(),
        f.nested().count().incr(1).await.err(),
        f.list_text().push_back("x").await.err(),
        f.list_text().len().await.err(),
        f.set_text().add("x").await.err(),
        f.map_text().insert("k", "v").await.err(),
        f.map_count().incr("k", 1).await.err(),
        f.nested().history().push_front(1.0).await.err(),
    ];
    for err in errors {
        assert!(
            matches!(err, Some(Error::NotFound { model: "Sample", ref pk, .. }) if pk == "ghost"),
            "{err:?}"
        );
    }
    let mut raw = t.raw().await;
    for key in repo.keys_of("ghost").unwrap() {
        let exists: bool = raw.exists(&key).await.unwrap();
        assert!(!exists, "{key} was created");
    }
    assert_eq!(repo.count().await.unwrap(), 0);
    // An empty pk is refused before anything is sent.
    assert!(matches!(
        repo.fields("").count().incr(1).await,
        Err(Error::InvalidKey { .. })
    ));
}

rapyer_tests::on_all!(junk_in_redis_is_a_typed_error_naming_key_and_field);
async fn junk_in_redis_is_a_typed_error_naming_key_and_field(t: TestRedis) {
    let repo = saved(&t, "s").await;
    let key = repo.key_of("s").unwrap();
    let mut raw = t.raw().await;
    let _: () = raw.hset(&key, "count", "12abc").await.unwrap();
    let _: () = raw.hset(&key, "ratio", "lots").await.unwrap();
    for err in [
        repo.fields("s").count().incr(1).await.unwrap_err(),
        repo.fields("s").count().get().await.unwrap_err(),
        repo.fields("s").ratio().incr(1.0).await.unwrap_err(),
    ] {
        assert!(
            matches!(err, Error::Decode { key: ref k, ref field, .. } if *k == key && (field == "count" || field == "ratio")),
            "{err}"
        );
    }
    // A container key holding another Redis type.
    let list_key = format!("{key}:list_text");
    let _: () = raw.set(&list_key, "not a list").await.unwrap();
    let err = repo
        .fields("s")
        .list_text()
        .push_back("x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Decode { key: ref k, .. } if *k == list_key),
        "{err}"
    );
    let _: () = raw.hset(&key, "color", "purple").await.unwrap();
    let err = repo.fields("s").color().get().await.unwrap_err();
    assert!(
        matches!(err, Error::Decode { ref field, .. } if field == "color"),
        "{err}"
    );
}

rapyer_tests::on_all!(containers_created_by_an_operation_take_the_instance_ttl);
async fn containers_created_by_an_operation_take_the_instance_ttl(t: TestRedis) {
    let sessions = Session::repo(&t.client);
    let s = Session::new(rapyer::Uuid::new_v4(), "u");
    sessions.save(&s).await.unwrap();
    sessions.fields(&s.token).tags().add("admin").await.unwrap();
    let counters = Counter::repo(&t.client);
    let c = Counter::new();
    counters.save(&c).await.unwrap();
    counters
        .fields(&c.counter_id)
        .labels()
        .insert("k", "v")
        .await
        .unwrap();
    assert_eq!(
        counters
            .fields(&c.counter_id)
            .value()
            .incr(3)
            .await
            .unwrap(),
        3
    );

    let mut raw = t.raw().await;
    for key in sessions
        .keys_of(&s.token)
        .unwrap()
        .into_iter()
        .chain(counters.keys_of(&c.counter_id).unwrap())
    {
        let ttl: i64 = raw.pttl(&key).await.unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
    // Without a TTL on the model, none is set.
    let accounts = Account::repo(&t.client);
    accounts.save(&Account::new(7)).await.unwrap();
    accounts.fields(&7).balance().incr(1).await.unwrap();
    let ttl: i64 = raw.pttl(accounts.key_of(&7).unwrap()).await.unwrap();
    assert_eq!(ttl, -1);
}
