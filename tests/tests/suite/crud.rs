//! End to end against a real, private redis-server: generated models stored with the runtime.

use std::collections::{BTreeMap, BTreeSet};

use rapyer::{Error, Model};
use rapyer_tests::fixtures::all_types::{Color, Defaults, Inner, Sample};
use rapyer_tests::fixtures::keys_and_ttl::{Account, Counter, Session};
use rapyer_tests::harness::{TestRedis, Transport};
use rapyer_tests::samples::{at, empty_sample, full_sample, inner};
use redis::AsyncCommands;

rapyer_tests::on_all!(every_type_round_trips_with_edge_values);
async fn every_type_round_trips_with_edge_values(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let full = full_sample("full");
    repo.save(&full).await.unwrap();
    assert_eq!(repo.get("full").await.unwrap().as_ref(), Some(&full));

    // Empty containers, `None` everywhere and empty strings: still an instance, still equal.
    let empty = empty_sample("empty");
    repo.save(&empty).await.unwrap();
    assert_eq!(repo.get("empty").await.unwrap(), Some(empty));
}

rapyer_tests::on_all!(defaults_fill_the_constructor_and_round_trip);
async fn defaults_fill_the_constructor_and_round_trip(t: TestRedis) {
    let d = Defaults::new("req");
    assert_eq!(d.d_int, -5);
    assert_eq!(d.d_float, 2.5);
    assert!(d.d_bool);
    assert_eq!(d.d_text, "héllo \"world\"");
    assert_eq!(d.d_raw, b"raw");
    assert_eq!(d.d_at, at(1_714_564_800, 1_000));
    assert_eq!(
        d.d_ident.to_string(),
        "67e55044-10b1-426f-9247-bb680e5fe0c8"
    );
    assert_eq!(d.d_color, Color::DarkBlue);
    assert_eq!(
        d.d_data,
        rapyer::serde_json::json!({"a": [1, 2], "b": null})
    );
    assert_eq!((d.d_opt, d.d_none.as_deref()), (Some(7), None));
    let repo = Defaults::repo(&t.client);
    repo.insert(&d).await.unwrap();
    assert_eq!(repo.get(&d.id).await.unwrap(), Some(d));
}

rapyer_tests::on_all!(non_finite_floats_are_rejected_and_nothing_is_written);
async fn non_finite_floats_are_rejected_and_nothing_is_written(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    type Spoil = Box<dyn Fn(&mut Sample)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("ratio", Box::new(|s| s.ratio = f64::NAN)),
        ("opt_ratio", Box::new(|s| s.opt_ratio = Some(f64::INFINITY))),
        (
            "list_ratio[1]",
            Box::new(|s| s.list_ratio = vec![1.0, f64::NAN]),
        ),
        (
            "list_inner[0]",
            Box::new(|s| {
                s.list_inner = vec![Inner {
                    ratio: f64::NAN,
                    ..inner(1)
                }]
            }),
        ),
        (
            "nested.ratio",
            Box::new(|s| s.nested.ratio = f64::NEG_INFINITY),
        ),
        (
            "map_ratio[\"x\"]",
            Box::new(|s| s.map_ratio = BTreeMap::from([("x".into(), f64::NAN)])),
        ),
    ];
    for (field, spoil) in cases {
        let mut s = full_sample("nan");
        spoil(&mut s);
        match repo.save(&s).await {
            Err(Error::Encode { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected an Encode error, got {other:?}"),
        }
        assert!(
            !repo.exists("nan").await.unwrap(),
            "{field}: something was written"
        );
    }
}

rapyer_tests::on_all!(insert_refuses_an_existing_pk_and_changes_nothing);
async fn insert_refuses_an_existing_pk_and_changes_nothing(t: TestRedis) {
    let repo = Account::repo(&t.client);
    let a = Account {
        number: 7,
        balance: 100,
    };
    repo.insert(&a).await.unwrap();
    let again = Account {
        number: 7,
        balance: 999,
    };
    match repo.insert(&again).await {
        Err(Error::AlreadyExists { model, pk, key }) => {
            assert_eq!((model, pk.as_str()), ("Account", "7"));
            assert_eq!(key, repo.key_of(&7).unwrap());
            assert!(key.contains("bank:account:{"), "{key}");
            assert!(key.ends_with("}:7"), "{key}");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(repo.get(&7).await.unwrap(), Some(a));
    // save is an upsert.
    repo.save(&again).await.unwrap();
    assert_eq!(repo.get(&7).await.unwrap(), Some(again));
    assert_eq!(repo.count().await.unwrap(), 1);
}

rapyer_tests::on_all!(get_many_exists_delete_all_and_count);
async fn get_many_exists_delete_all_and_count(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    for name in ["a", "b", "c"] {
        repo.insert(&full_sample(name)).await.unwrap();
    }
    let got = repo.get_many(["a", "missing", "c"]).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|s| s.as_ref().map(|s| s.name.as_str()))
            .collect::<Vec<_>>(),
        [Some("a"), None, Some("c")]
    );
    assert!(repo.exists("b").await.unwrap());
    assert_eq!(repo.all().await.unwrap(), ["a", "b", "c"]);
    assert_eq!(repo.count().await.unwrap(), 3);

    assert!(repo.delete("b").await.unwrap());
    assert!(!repo.delete("b").await.unwrap());
    assert!(!repo.exists("b").await.unwrap());
    assert_eq!(repo.get("b").await.unwrap(), None);
    assert_eq!(repo.all().await.unwrap(), ["a", "c"]);
    assert_eq!(repo.count().await.unwrap(), 2);

    // Every key of a deleted instance is gone, containers included.
    let mut raw = t.raw().await;
    for key in repo.keys_of("b").unwrap() {
        assert!(
            !raw.exists::<_, bool>(&key).await.unwrap(),
            "{key} survived delete"
        );
    }
    assert!(repo.get_many(Vec::<&str>::new()).await.unwrap().is_empty());
}

rapyer_tests::on_all!(save_replaces_containers_instead_of_merging);
async fn save_replaces_containers_instead_of_merging(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let mut s = full_sample("x");
    repo.save(&s).await.unwrap();
    s.list_count = vec![1];
    s.set_text = BTreeSet::new();
    s.map_text = BTreeMap::from([("only".into(), "this".into())]);
    s.opt_text = None;
    repo.save(&s).await.unwrap();
    assert_eq!(repo.get("x").await.unwrap(), Some(s));
}

rapyer_tests::on_all!(junk_in_a_field_is_a_typed_error_naming_key_and_field);
async fn junk_in_a_field_is_a_typed_error_naming_key_and_field(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let mut raw = t.raw().await;
    let cases = [
        ("count", None, "abc", "count"),
        ("ratio", None, "nan", "ratio"),
        ("color", None, "purple", "color"),
        ("at", None, "yesterday", "at"),
        ("nested.count", None, "1.5", "nested.count"),
        ("opt_inner", None, "{not json", "opt_inner"),
        ("list_count", Some("LIST"), "x", "list_count[0]"),
        ("map_inner", Some("HASH"), "[1]", "map_inner[\"k\"]"),
    ];
    for (field, container, junk, reported) in cases {
        repo.save(&full_sample("j")).await.unwrap();
        let key = repo.key_of("j").unwrap();
        let target = match container {
            None => {
                let _: () = raw.hset(&key, field, junk).await.unwrap();
                key.clone()
            }
            Some(kind) => {
                let ckey = format!("{key}:{field}");
                let _: () = raw.del(&ckey).await.unwrap();
                if kind == "LIST" {
                    let _: () = raw.rpush(&ckey, junk).await.unwrap();
                } else {
                    let _: () = raw.hset(&ckey, "k", junk).await.unwrap();
                }
                ckey
            }
        };
        match repo.get("j").await {
            Err(Error::Decode {
                key: k,
                field: f,
                reason,
            }) => {
                assert_eq!(
                    (k.as_str(), f.as_str()),
                    (target.as_str(), reported),
                    "{reason}"
                );
                let message = Error::Decode {
                    key: k,
                    field: f,
                    reason,
                }
                .to_string();
                assert!(
                    message.contains(&target) && message.contains(reported),
                    "{message}"
                );
            }
            other => panic!("{field}: expected a Decode error, got {other:?}"),
        }
    }
}

rapyer_tests::on_all!(awkward_pks_never_share_keys);
async fn awkward_pks_never_share_keys(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    let long = "k".repeat(10_000);
    let pks = [
        "a",
        "a:b",
        "a}",
        "{a}",
        "a}:list_count",
        "%7D",
        "a%7D",
        "*",
        "a b",
        " ",
        "ключ 🎮",
        long.as_str(),
        "}{",
        "x:{y}:z",
        "a%3Ab",
        "%",
    ];
    for pk in pks {
        repo.insert(&full_sample(pk))
            .await
            .unwrap_or_else(|e| panic!("{pk:?}: {e}"));
    }
    let mut all_keys = BTreeSet::new();
    for pk in pks {
        let got = repo
            .get(pk)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{pk:?} lost"));
        assert_eq!(got.name, pk);
        for key in repo.keys_of(pk).unwrap() {
            assert!(all_keys.insert(key.clone()), "{pk:?} shares key {key}");
        }
        // The first `{...}` is the bucket's tag; after it comes `:` and the escaped pk, which
        // holds no `:` (so a container suffix is never part of a pk).
        let hash = repo.key_of(pk).unwrap();
        let after_tag = &hash[hash.find('}').unwrap() + 1..];
        assert!(after_tag.starts_with(':'), "{hash}");
        assert!(!after_tag[1..].contains(':'), "{hash}");
    }
    let mut listed = repo.all().await.unwrap();
    listed.sort();
    let mut expected: Vec<String> = pks.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    // Deleting one leaves every other intact.
    repo.delete("a").await.unwrap();
    assert_eq!(
        repo.get("a}").await.unwrap().map(|s| s.name),
        Some("a}".to_string())
    );
    assert_eq!(repo.count().await.unwrap(), pks.len() as u64 - 1);
}

rapyer_tests::on_all!(the_empty_pk_is_rejected);
async fn the_empty_pk_is_rejected(t: TestRedis) {
    let repo = Sample::repo(&t.client);
    assert!(matches!(
        repo.insert(&full_sample("")).await,
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(repo.get("").await, Err(Error::InvalidKey { .. })));
    assert_eq!(repo.count().await.unwrap(), 0);
}

rapyer_tests::on_all!(
    ttl_is_set_on_every_key_in_the_same_write_and_expired_instances_leave_the_registry
);
async fn ttl_is_set_on_every_key_in_the_same_write_and_expired_instances_leave_the_registry(
    t: TestRedis,
) {
    let sessions = Session::repo(&t.client);
    let s = Session {
        token: rapyer::Uuid::new_v4(),
        user: "u".into(),
        tags: BTreeSet::from(["a".into()]),
    };
    sessions.save(&s).await.unwrap();
    let mut raw = t.raw().await;
    for key in sessions.keys_of(&s.token).unwrap() {
        let ttl: i64 = raw.pttl(&key).await.unwrap();
        assert!((3_590_000..=3_600_000).contains(&ttl), "{key}: pttl {ttl}");
    }
    let counters = Counter::repo(&t.client);
    let c = Counter::new();
    counters.insert(&c).await.unwrap();
    assert_eq!(counters.count().await.unwrap(), 1);
    assert_eq!(counters.all().await.unwrap(), [c.counter_id]);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(counters.get(&c.counter_id).await.unwrap(), None);
    assert_eq!(counters.count().await.unwrap(), 0);
    assert!(counters.all().await.unwrap().is_empty());
}

#[tokio::test]
async fn connects_over_tcp_and_records_the_schema_version() {
    let t = TestRedis::with(Transport::Tcp).await;
    let repo = Sample::repo(&t.client);
    repo.save(&full_sample("v")).await.unwrap();
    let mut raw = t.raw().await;
    let version: String = raw.hget(repo.key_of("v").unwrap(), "@v").await.unwrap();
    assert_eq!(version, Sample::META.schema_version.to_string());
    assert_eq!(version, "3");
}

rapyer_tests::on_all!(an_instance_with_every_optional_field_empty_still_exists);
async fn an_instance_with_every_optional_field_empty_still_exists(t: TestRedis) {
    let repo = Counter::repo(&t.client);
    let c = Counter::new();
    repo.save(&c).await.unwrap();
    assert!(repo.exists(&c.counter_id).await.unwrap());
    assert_eq!(repo.get(&c.counter_id).await.unwrap(), Some(c));
}

rapyer_tests::on_all!(concurrent_inserts_of_one_pk_let_exactly_one_win);
async fn concurrent_inserts_of_one_pk_let_exactly_one_win(t: TestRedis) {
    let repo = Account::repo(&t.client);
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.insert(&Account {
                    number: 1,
                    balance: i,
                })
                .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => winners.push(i as i64),
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    // The stored instance is the winner's, untouched by the 31 refused inserts.
    assert_eq!(
        repo.get(&1).await.unwrap().map(|a| a.balance),
        Some(winners[0])
    );
    assert_eq!(repo.count().await.unwrap(), 1);
}
