//! The suite runs against what its environment says: Valkey under `RAPYER_TEST_SERVER=valkey`,
//! RESP3 under `RAPYER_TEST_PROTOCOL=resp3` (the CI jobs beside Redis 7.0 and RESP2), on every
//! deployment kind.

use rapyer_tests::harness::{TestRedis, server_program};

rapyer_tests::on_all!(the_server_and_protocol_are_the_ones_asked_for);
async fn the_server_and_protocol_are_the_ones_asked_for(t: TestRedis) {
    let info = t.client.server();
    if std::env::var("REDIS_URL").is_err() && std::env::var("REDIS_CLUSTER_URLS").is_err() {
        let product = server_program().trim_end_matches("-server");
        assert_eq!(info.product, product, "{info:?}");
    }
    let major: u32 = info.version.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 7, "{info:?}");
    let hello: redis::Value = redis::cmd("HELLO")
        .query_async(&mut t.client.connection())
        .await
        .unwrap();
    let proto = match hello {
        redis::Value::Map(fields) => fields
            .into_iter()
            .find(|(k, _)| matches!(k, redis::Value::BulkString(b) if b == b"proto"))
            .map(|(_, v)| v),
        redis::Value::Array(items) => items
            .chunks(2)
            .find(|kv| matches!(&kv[0], redis::Value::BulkString(b) if b == b"proto"))
            .map(|kv| kv[1].clone()),
        other => panic!("HELLO answered {other:?}"),
    };
    let want = match std::env::var("RAPYER_TEST_PROTOCOL").as_deref() {
        Ok("resp3") => 3,
        _ => 2,
    };
    assert_eq!(proto, Some(redis::Value::Int(want)));
}
