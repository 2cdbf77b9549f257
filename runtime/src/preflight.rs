//! What `connect` verifies about a server before a client is handed out: that it is Redis 7.0 or
//! newer (or Valkey), of the expected kind (a standalone server or a cluster node), and that it
//! cannot evict keys without a TTL.

use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::error::{Error, Result};

/// What a client learned about its server at connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `redis` or `valkey`.
    pub product: String,
    /// The server's version, as it reports it (`7.0.15`).
    pub version: String,
    /// `standalone`, `cluster` or `sentinel`.
    pub mode: String,
    /// `maxmemory-policy`, or `None` where `CONFIG GET` is not permitted (managed services
    /// often rename or forbid it) and the check was skipped.
    pub maxmemory_policy: Option<String>,
}

/// The deployment a client was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Standalone,
    Cluster,
}

/// Asks the server (HELLO, which every user may send, and CONFIG GET where permitted) and
/// checks the answers.
pub(crate) async fn check(
    conn: &mut MultiplexedConnection,
    server: &str,
    expect: Expect,
    allow_key_eviction: bool,
) -> Result<ServerInfo> {
    let hello: redis::RedisResult<Value> = redis::cmd("HELLO").query_async(conn).await;
    let fields = match hello {
        Ok(reply) => pairs(reply),
        // An ACL that forbids HELLO: nothing to check against (docs/security.md).
        Err(e) if e.code() == Some("NOPERM") => return Ok(unknown_server()),
        // Servers before 6.0 know no HELLO.
        Err(e) if e.code() == Some("ERR") => {
            return Err(Error::UnsupportedServer {
                server: server.to_string(),
                found: format!("a server that knows no HELLO ({e})"),
                needed: "rapyer needs Redis 7.0 or newer, or Valkey".into(),
            });
        }
        Err(source) => {
            return Err(Error::Connect {
                server: server.to_string(),
                source,
            });
        }
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut info = ServerInfo {
        product: field("server"),
        version: field("version"),
        mode: field("mode"),
        maxmemory_policy: None,
    };
    judge(server, &info, expect)?;
    let policy: redis::RedisResult<Value> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(conn)
        .await;
    // Refused (NOPERM, a renamed command): the check is skipped, as docs/security.md says.
    if let Ok(reply) = policy {
        info.maxmemory_policy = pairs(reply).into_iter().next().map(|(_, v)| v);
    }
    if let Some(policy) = &info.maxmemory_policy
        && policy.starts_with("allkeys-")
        && !allow_key_eviction
    {
        return Err(Error::EvictingServer {
            server: server.to_string(),
            policy: policy.clone(),
        });
    }
    Ok(info)
}

/// The text of field `name` of a map reply (HELLO's, say), if there.
pub(crate) fn field(reply: Value, name: &str) -> Option<String> {
    pairs(reply)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Refuses a server older than 7.0, or not of the kind `expect`s.
fn judge(server: &str, info: &ServerInfo, expect: Expect) -> Result<()> {
    let unsupported = |needed: &str| {
        Err(Error::UnsupportedServer {
            server: server.to_string(),
            found: format!("{} {} ({})", info.product, info.version, info.mode),
            needed: needed.to_string(),
        })
    };
    let major: u32 = info
        .version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    // Valkey started at 7.2, so every Valkey passes.
    if major < 7 {
        return unsupported("rapyer needs Redis 7.0 or newer, or Valkey");
    }
    match (expect, info.mode.as_str()) {
        (Expect::Standalone, "cluster") => unsupported(
            "a cluster node; connect with Client::connect_cluster or Client::cluster_builder",
        ),
        (Expect::Cluster, "standalone") => {
            unsupported("not a cluster node; connect with Client::connect or Client::builder")
        }
        (_, "sentinel") => unsupported(
            "a Sentinel; connect with Client::connect_sentinel or Client::sentinel_builder",
        ),
        _ => Ok(()),
    }
}

/// What a server that may not be asked is known as.
fn unknown_server() -> ServerInfo {
    ServerInfo {
        product: "unknown".into(),
        version: "unknown".into(),
        mode: "unknown".into(),
        maxmemory_policy: None,
    }
}

/// The name/value pairs of a map reply (RESP3) or of a flat array of names and values (RESP2);
/// values that are not text are left out.
fn pairs(reply: Value) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    };
    let entries: Vec<(Value, Value)> = match reply {
        Value::Map(map) => map,
        Value::Array(items) => {
            let mut items = items.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                out.push((k, v));
            }
            out
        }
        _ => Vec::new(),
    };
    entries
        .iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn info(product: &str, version: &str, mode: &str) -> ServerInfo {
        ServerInfo {
            product: product.into(),
            version: version.into(),
            mode: mode.into(),
            maxmemory_policy: None,
        }
    }

    #[test]
    fn old_servers_and_the_wrong_deployment_are_refused() {
        let refused = |i: ServerInfo, e: Expect| {
            matches!(judge("s:1", &i, e), Err(Error::UnsupportedServer { .. }))
        };
        assert!(refused(
            info("redis", "6.2.14", "standalone"),
            Expect::Standalone
        ));
        assert!(refused(info("redis", "5.0.7", "cluster"), Expect::Cluster));
        assert!(!refused(
            info("redis", "7.0.15", "standalone"),
            Expect::Standalone
        ));
        assert!(!refused(
            info("valkey", "8.0.1", "cluster"),
            Expect::Cluster
        ));
        assert!(refused(
            info("redis", "7.0.15", "cluster"),
            Expect::Standalone
        ));
        assert!(refused(
            info("redis", "7.2.4", "standalone"),
            Expect::Cluster
        ));
        assert!(refused(
            info("redis", "7.0.15", "sentinel"),
            Expect::Standalone
        ));
        let err = judge(
            "s:1",
            &info("redis", "6.2.14", "standalone"),
            Expect::Standalone,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("s:1 is redis 6.2.14 (standalone): rapyer needs Redis 7.0"),
            "{err}"
        );
    }

    #[test]
    fn hello_replies_of_both_protocols_are_read() {
        let resp2 = Value::Array(vec![
            bulk("server"),
            bulk("redis"),
            bulk("proto"),
            Value::Int(2),
            bulk("modules"),
            Value::Array(vec![]),
        ]);
        let resp3 = Value::Map(vec![
            (bulk("server"), bulk("valkey")),
            (bulk("proto"), Value::Int(3)),
        ]);
        assert_eq!(
            pairs(resp2),
            vec![
                ("server".to_string(), "redis".to_string()),
                ("proto".to_string(), "2".to_string())
            ]
        );
        assert_eq!(
            pairs(resp3),
            vec![
                ("server".to_string(), "valkey".to_string()),
                ("proto".to_string(), "3".to_string())
            ]
        );
    }
}
