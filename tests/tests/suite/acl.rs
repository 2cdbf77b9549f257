//! ACL users: the rule of `rapyer::acl_rule` is enough for every API (the CRUD, field-op,
//! pipeline, transaction, lock, index and paging suites run as such a user over TLS:
//! `on_all!`'s `secured` tests), and the same user is refused outside its namespace, or a
//! command it lacks, with a typed error naming the command and keys; nothing is written.

use rapyer::{Client, Error};
use rapyer_example::generated::{Player, PlayerStats};
use rapyer_tests::harness::{RedisServer, Transport, server_program};

/// A private server with the user `app` (password `secret`) under `rule`; its admin connection.
async fn server_with_user(rule: &str) -> (RedisServer, redis::aio::MultiplexedConnection) {
    let server = RedisServer::start(Transport::Tcp);
    let mut admin = redis::Client::open(server.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">secret")
        .arg(rule.split_whitespace().collect::<Vec<_>>())
        .query_async(&mut admin)
        .await
        .unwrap();
    (server, admin)
}

fn as_app(server: &RedisServer) -> String {
    server.url.replace("redis://", "redis://app:secret@")
}

#[tokio::test]
async fn outside_its_namespace_the_user_is_refused_with_a_typed_error() {
    let (server, mut admin) = server_with_user(&rapyer::acl_rule("app")).await;
    let url = as_app(&server);
    // The user may not read the eviction policy: the check is skipped, not failed.
    let db = Client::builder(&url)
        .namespace("app")
        .connect()
        .await
        .unwrap();
    assert_eq!(db.server().maxmemory_policy, None);
    assert_eq!(
        db.server().product,
        server_program().trim_end_matches("-server")
    );
    let players = Player::repo(&db);
    let ada = Player::new("ada", PlayerStats::new(0, 0, 0, 0.0));
    players.insert(&ada).await.unwrap();

    let elsewhere = Client::builder(&url)
        .namespace("other")
        .connect()
        .await
        .unwrap();
    let err = Player::repo(&elsewhere)
        .insert(&Player::new("bob", PlayerStats::new(0, 0, 0, 0.0)))
        .await
        .unwrap_err();
    match &err {
        Error::NoPermission { command, keys, .. } => {
            assert_eq!(command, "FCALL");
            assert!(
                !keys.is_empty() && keys.iter().all(|k| k.starts_with("other:")),
                "{keys:?}"
            );
        }
        other => panic!("expected NoPermission, got {other:?}"),
    }
    println!("{err}");
    assert!(err.to_string().contains("may not run FCALL"), "{err}");
    let err = Player::repo(&elsewhere).get(&ada.id).await.unwrap_err();
    assert!(matches!(err, Error::NoPermission { .. }), "{err:?}");
    // On one server `get` is a transaction of reads: the refusal names the queued read and its
    // key, not MULTI or EXEC.
    if let Error::NoPermission { command, keys, .. } = &err {
        assert_eq!(command, "HGETALL", "{err}");
        assert!(keys[0].starts_with("other:"), "{keys:?}");
    }
    // Nothing was written outside the namespace.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("other:*")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn a_command_the_user_lacks_is_named() {
    let rule = format!("{} -zrevrank", rapyer::acl_rule("app"));
    let (server, _admin) = server_with_user(&rule).await;
    let db = Client::builder(&as_app(&server))
        .namespace("app")
        .connect()
        .await
        .unwrap();
    let players = Player::repo(&db);
    let ada = Player::new("ada", PlayerStats::new(0, 0, 0, 0.0));
    players.insert(&ada).await.unwrap();
    let err = players.by_score().rank(&ada.id).await.unwrap_err();
    println!("{err}");
    match &err {
        Error::NoPermission { command, keys, .. } => {
            assert_eq!(command, "ZREVRANK");
            assert!(keys[0].starts_with("app:"), "{keys:?}");
        }
        other => panic!("expected NoPermission, got {other:?}"),
    }
}

/// A lock whose instance the user cannot read (no LRANGE, which reads the achievements list)
/// is released again, and the error names the command.
#[tokio::test]
async fn a_lock_whose_instance_cannot_be_read_is_released() {
    let rule = format!("{} -lrange", rapyer::acl_rule("app"));
    let (server, mut admin) = server_with_user(&rule).await;
    let db = Client::builder(&as_app(&server))
        .namespace("app")
        .connect()
        .await
        .unwrap();
    let players = Player::repo(&db);
    let ada = Player::new("ada", PlayerStats::new(0, 0, 0, 0.0));
    players.insert(&ada).await.unwrap();
    let err = players.lock(&ada.id, "items").await.unwrap_err();
    match &err {
        Error::NoPermission { command, .. } => assert_eq!(command, "LRANGE"),
        other => panic!("expected NoPermission, got {other:?}"),
    }
    let held: Vec<String> = redis::cmd("KEYS")
        .arg("*:lock:items")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(held.is_empty(), "the lock was left taken: {held:?}");
}

/// The rule `acl_rule` gave before rapyer used functions: no FCALL, no FUNCTION LOAD.
const RULE_BEFORE_FUNCTIONS: &str = "resetkeys ~app:* resetchannels -@all +@read +@write \
    +@transaction +@connection +eval +evalsha +script|load +time -@dangerous +cluster|slots";

#[tokio::test]
async fn a_user_whose_rule_predates_functions_runs_every_call_as_a_script() {
    for (rule, what) in [
        (RULE_BEFORE_FUNCTIONS.to_string(), "no fcall"),
        (
            format!("{} -function|load", rapyer::acl_rule("app")),
            "fcall without function|load",
        ),
    ] {
        let (server, mut admin) = server_with_user(&rule).await;
        let db = Client::builder(&as_app(&server))
            .namespace("app")
            .connect()
            .await
            .unwrap();
        let players = Player::repo(&db);
        let ada = Player::new("ada", PlayerStats::new(0, 0, 0, 0.0));
        players.insert(&ada).await.unwrap();
        players.fields(&ada.id).wins().incr(2).await.unwrap();
        let mut p = db.pipeline();
        p.add(players.fields(&ada.id).wins().incr(3));
        p.add(players.fields(&ada.id).score().incr(7));
        p.exec().await.unwrap();
        players
            .update(&ada.id, |p| {
                p.losses += 1;
                Ok::<_, std::convert::Infallible>(())
            })
            .await
            .unwrap();
        let got = players.get(&ada.id).await.unwrap().unwrap();
        assert_eq!((got.wins, got.score, got.losses), (5, 7, 1), "{what}");
        assert_eq!(
            players.by_score().top(1).await.unwrap(),
            vec![ada.id],
            "{what}"
        );
        // Nothing ran as a function, and after the first refusal every call went as a
        // script: at most two refused or failed FCALLs in all (the first call, and the same
        // call after its refused load).
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut admin)
            .await
            .unwrap();
        let stat = |name: &str, field: &str| -> u64 {
            info.lines()
                .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
                .and_then(|l| l.split(&format!("{field}=")).nth(1))
                .and_then(|v| v.split(',').next()?.parse().ok())
                .unwrap_or(0)
        };
        assert_eq!(
            stat("fcall", "calls"),
            stat("fcall", "failed_calls"),
            "{what}: {info}"
        );
        assert!(
            stat("fcall", "rejected_calls") + stat("fcall", "failed_calls") <= 2,
            "{what}: {info}"
        );
        assert!(
            stat("evalsha", "calls") + stat("eval", "calls") >= 4,
            "{what}: {info}"
        );
    }
}

#[tokio::test]
async fn a_wrong_password_fails_at_connect_at_once() {
    let (server, _admin) = server_with_user(&rapyer::acl_rule("app")).await;
    let url = server.url.replace("redis://", "redis://app:wrong@");
    let start = std::time::Instant::now();
    let err = Client::connect(&url).await.unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    // The builder's credentials override the URL's.
    let db = Client::builder(&url)
        .username("app")
        .password("secret")
        .namespace("app")
        .connect()
        .await
        .unwrap();
    assert_eq!(Player::repo(&db).count().await.unwrap(), 0);
}

#[test]
fn the_docs_show_the_rule_the_runtime_gives() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/security.md"),
    )
    .unwrap();
    let line = format!("ACL SETUSER app on >secret {}", rapyer::acl_rule("app"));
    assert!(doc.contains(&line), "docs/security.md must show `{line}`");
}
