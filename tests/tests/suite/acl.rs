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
            assert_eq!(command, "EVALSHA");
            assert!(
                !keys.is_empty() && keys.iter().all(|k| k.starts_with("other:")),
                "{keys:?}"
            );
        }
        other => panic!("expected NoPermission, got {other:?}"),
    }
    println!("{err}");
    assert!(err.to_string().contains("may not run EVALSHA"), "{err}");
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
