//! Checks at connect against real servers: a server that may evict keys without a TTL is refused
//! unless accepted, and a client built for the wrong kind of deployment says which to use.

use rapyer::{Client, Error};
use rapyer_tests::harness::{RedisServer, Transport, shared_cluster};

#[tokio::test]
async fn a_server_that_may_evict_any_key_is_refused_unless_accepted() {
    let server = RedisServer::start_with(
        Transport::Unix,
        &[
            "--save",
            "",
            "--maxmemory",
            "64mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
    );
    let err = Client::connect(&server.url).await.unwrap_err();
    match &err {
        Error::EvictingServer { policy, .. } => assert_eq!(policy, "allkeys-lru"),
        other => panic!("expected EvictingServer, got {other:?}"),
    }
    assert!(err.to_string().contains("allow_key_eviction"), "{err}");
    let db = Client::builder(&server.url)
        .allow_key_eviction()
        .connect()
        .await
        .unwrap();
    assert_eq!(db.server().maxmemory_policy.as_deref(), Some("allkeys-lru"));

    // volatile-* evicts only keys with a TTL: accepted (docs/security.md says what it means).
    let server = RedisServer::start_with(
        Transport::Unix,
        &["--save", "", "--maxmemory-policy", "volatile-lru"],
    );
    Client::connect(&server.url).await.unwrap();
}

#[tokio::test]
async fn the_wrong_constructor_for_the_deployment_is_named() {
    let cluster_node = &shared_cluster().urls()[0];
    let err = Client::connect(cluster_node).await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedServer { .. }), "{err:?}");
    assert!(err.to_string().contains("connect_cluster"), "{err}");

    let server = RedisServer::start(Transport::Tcp);
    let err = Client::connect_cluster(&[&server.url]).await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedServer { .. }), "{err:?}");
    assert!(err.to_string().contains("Client::connect"), "{err}");
}
