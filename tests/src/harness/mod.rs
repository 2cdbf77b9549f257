//! Test servers and clients. Every test gets a private `redis-server` (unix socket in a temp dir,
//! or TCP on a free port), or works under a random key namespace on a cluster started once per
//! test process; servers are killed by pid when their handles drop (or, for the shared cluster,
//! when the test process ends). `REDIS_URL` points the single-server tests at an external server
//! and `REDIS_CLUSTER_URLS` (comma-separated) the cluster tests at an external cluster; each test
//! then works under its own random key namespace.
//!
//! A missing `redis-server` is a loud failure, never a skip: run `scripts/setup.sh`.

mod cluster;
mod sentinel;
mod server;
mod tls;

use std::sync::OnceLock;

pub use cluster::{ClusterNode, RedisCluster, SlotMove};
pub use sentinel::{MASTER_NAME, SentinelSetup};
pub use server::{RedisServer, Transport, server_program, test_url};
pub use tls::{TlsFiles, tls_files};

/// A client for one test, with the server it talks to (if private).
pub struct TestRedis {
    /// The private server; `None` under `REDIS_URL` and on a cluster.
    pub server: Option<RedisServer>,
    /// A rapyer client (namespaced under `REDIS_URL` and on a cluster).
    pub client: rapyer::Client,
    /// The URL in use (on a cluster, the first seed), with the client's credentials.
    pub url: String,
    /// The URL of raw test connections: the server's default user, who may do anything.
    pub admin_url: String,
    /// On a cluster: every seed URL.
    pub cluster_urls: Vec<String>,
    /// The key namespace in use, if any.
    pub namespace: Option<String>,
}

/// The cluster shared by the cluster tests of one test process: 3 masters and 3 replicas.
pub fn shared_cluster() -> &'static RedisCluster {
    static SHARED: OnceLock<RedisCluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let cluster = RedisCluster::start(3, 1);
        cluster.reap_at_exit();
        cluster
    })
}

impl TestRedis {
    /// A private server over a unix socket, or the `REDIS_URL` server under a fresh namespace.
    pub async fn new() -> TestRedis {
        Self::with(Transport::Unix).await
    }

    /// Like [`TestRedis::new`], choosing the transport of the private server.
    pub async fn with(transport: Transport) -> TestRedis {
        let (server, url, namespace) = match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => (None, url, Some(fresh_namespace())),
            _ => {
                let server = RedisServer::start(transport);
                let url = server.url.clone();
                (Some(server), url, None)
            }
        };
        let mut builder = builder_for(&url);
        if let Some(ns) = &namespace {
            builder = builder.namespace(ns.clone());
        }
        let client = builder
            .connect()
            .await
            .expect("cannot connect to the test server");
        TestRedis {
            server,
            client,
            admin_url: url.clone(),
            url,
            cluster_urls: Vec::new(),
            namespace,
        }
    }

    /// A private server as production runs one: TLS only (`rediss://`, certificates of the
    /// test CA), the client logged in as an ACL user limited to its namespace (`app`) by
    /// [`rapyer::acl_rule`]. Always private: a `REDIS_URL` server is not assumed to speak TLS.
    pub async fn secured() -> TestRedis {
        let server = RedisServer::start(Transport::Tls);
        let admin_url = server.url.clone();
        let rule = rapyer::acl_rule(SECURED_NAMESPACE);
        let mut setuser = redis::cmd("ACL");
        setuser
            .arg("SETUSER")
            .arg("app")
            .arg("on")
            .arg(">app-secret");
        setuser.arg(rule.split_whitespace().collect::<Vec<_>>());
        let mut admin = raw_client(&admin_url)
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection");
        let _: () = setuser.query_async(&mut admin).await.expect("ACL SETUSER");
        let url = admin_url.replace("rediss://", "rediss://app:app-secret@");
        let client = builder_for(&url)
            .namespace(SECURED_NAMESPACE)
            .connect()
            .await
            .expect("cannot connect to the secured test server");
        TestRedis {
            server: Some(server),
            client,
            url,
            admin_url,
            cluster_urls: Vec::new(),
            namespace: Some(SECURED_NAMESPACE.to_string()),
        }
    }

    /// A builder for another client of the same deployment: same servers, TLS trust and
    /// namespace.
    pub fn builder(&self) -> rapyer::ClientBuilder {
        let builder = if self.is_cluster() {
            rapyer::Client::cluster_builder(&self.cluster_urls)
        } else {
            builder_for(&self.url)
        };
        match &self.namespace {
            Some(ns) => builder.namespace(ns.clone()),
            None => builder,
        }
    }

    /// A fresh namespace on a cluster: `REDIS_CLUSTER_URLS`, or the cluster shared by this test
    /// process (started on first use).
    pub async fn cluster() -> TestRedis {
        let urls: Vec<String> = match std::env::var("REDIS_CLUSTER_URLS") {
            Ok(urls) if !urls.is_empty() => urls.split(',').map(str::to_string).collect(),
            _ => shared_cluster().urls(),
        };
        Self::on_cluster(urls, rapyer::Client::cluster_builder).await
    }

    /// A client under a fresh namespace on the cluster of `urls`, configured by `builder`
    /// (`rapyer::Client::cluster_builder`, plus options).
    pub async fn on_cluster(
        urls: Vec<String>,
        builder: impl FnOnce(&[String]) -> rapyer::ClientBuilder,
    ) -> TestRedis {
        let namespace = fresh_namespace();
        let client = builder(&urls)
            .namespace(namespace.clone())
            .connect()
            .await
            .expect("cannot connect to the test cluster");
        TestRedis {
            server: None,
            client,
            url: urls[0].clone(),
            admin_url: urls[0].clone(),
            cluster_urls: urls,
            namespace: Some(namespace),
        }
    }

    /// True on a cluster.
    pub fn is_cluster(&self) -> bool {
        !self.cluster_urls.is_empty()
    }

    /// A blocking redis-rs connection of its own (to one server, or to the cluster), for code
    /// that cannot await.
    pub fn raw_sync(&self) -> Box<dyn redis::ConnectionLike + Send> {
        if self.is_cluster() {
            let conn = redis::cluster::ClusterClient::new(self.cluster_urls.clone())
                .and_then(|c| c.get_connection())
                .expect("raw cluster connection");
            return Box::new(conn);
        }
        let conn = raw_client(&self.admin_url)
            .get_connection()
            .expect("raw connection");
        Box::new(conn)
    }

    /// A plain redis-rs connection of its own (to one server, or to the cluster), for writing
    /// junk and inspecting keys.
    pub async fn raw(&self) -> rapyer::Connection {
        if self.is_cluster() {
            let conn = redis::cluster::ClusterClient::new(self.cluster_urls.clone())
                .expect("cluster urls")
                .get_async_connection()
                .await
                .expect("raw cluster connection");
            return rapyer::Connection::Cluster(conn);
        }
        let conn = raw_client(&self.admin_url)
            .get_connection_manager()
            .await
            .expect("raw connection");
        rapyer::Connection::Single(conn)
    }
}

impl TestRedis {
    /// Every key this test's client can see (its namespace, or the whole private server), from
    /// every master of a cluster, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let pattern = match &self.namespace {
            Some(ns) => format!("{ns}:*"),
            None => "*".to_string(),
        };
        let mut urls = vec![self.admin_url.clone()];
        if self.is_cluster() {
            urls = self.master_urls().await;
        }
        let mut keys = Vec::new();
        for url in urls {
            let mut conn = raw_client(&url)
                .get_multiplexed_async_connection()
                .await
                .expect("raw connection to a master");
            let mut cursor = 0u64;
            loop {
                let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .expect("SCAN");
                keys.extend(page);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort();
        keys
    }

    /// How many atomic steps the server has run (INFO commandstats): script calls (FCALL,
    /// EVALSHA and EVAL) and transactions (EXEC), the round trips a bulk operation took. One
    /// server only.
    pub async fn atomic_steps(&self) -> u64 {
        let mut conn = self.raw().await;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .expect("INFO commandstats");
        info.lines()
            .filter(|l| {
                [
                    "cmdstat_fcall:",
                    "cmdstat_evalsha:",
                    "cmdstat_eval:",
                    "cmdstat_exec:",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    /// The URL of every master of the cluster, from CLUSTER NODES on the first seed.
    async fn master_urls(&self) -> Vec<String> {
        let seed = &self.cluster_urls[0];
        let mut conn = raw_client(seed)
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection to a seed");
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await
            .expect("CLUSTER NODES");
        let scheme = seed.split("://").next().unwrap_or("redis");
        nodes
            .lines()
            .filter(|line| line.split(' ').nth(2).is_some_and(|f| f.contains("master")))
            .filter(|line| !line.contains("fail") && !line.contains("noaddr"))
            .filter_map(|line| line.split(' ').nth(1))
            .map(|addr| format!("{scheme}://{}", addr.split('@').next().unwrap_or(addr)))
            .collect()
    }
}

/// The namespace of [`TestRedis::secured`], the only one its ACL user may touch.
pub const SECURED_NAMESPACE: &str = "app";

/// A rapyer builder for `url`, trusting the test CA for `rediss://`.
fn builder_for(url: &str) -> rapyer::ClientBuilder {
    let builder = rapyer::Client::builder(url);
    if url.starts_with("rediss://") {
        return builder.tls_root_cert(tls_files().ca_pem.clone());
    }
    builder
}

/// A redis-rs client for `url` (with the test certificates for `rediss://`).
fn raw_client(url: &str) -> redis::Client {
    let client = if url.starts_with("rediss://") {
        redis::Client::build_with_tls(url, tls_files().certificates())
    } else {
        redis::Client::open(url)
    };
    client.expect("test server url")
}

fn fresh_namespace() -> String {
    format!("t{}", rapyer::Uuid::new_v4().simple())
}

/// Like [`on_both!`], and a third test `name::secured` on a private TLS server (`rediss://`)
/// as an ACL user limited to its namespace ([`TestRedis::secured`]).
#[macro_export]
macro_rules! on_all {
    ($name:ident) => {
        $crate::on_all!($name, flavor = "current_thread");
    };
    ($name:ident, $($flavor:tt)+) => {
        $crate::on_deployments!($name, ($($flavor)+), single => new, cluster => cluster, secured => secured);
    };
}

/// Runs one test body on both deployments: `on_both!(name);` next to
/// `async fn name(t: TestRedis)` defines the tests `name::single` (a private server) and
/// `name::cluster` (a namespace on a cluster). Extra arguments go to `#[tokio::test(...)]`.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        $crate::on_both!($name, flavor = "current_thread");
    };
    ($name:ident, $($flavor:tt)+) => {
        $crate::on_deployments!($name, ($($flavor)+), single => new, cluster => cluster);
    };
}

/// What [`on_both!`] and [`on_all!`] expand to: a module `name` with one `#[tokio::test $args]`
/// per deployment, each running `name` on the `TestRedis` its constructor starts.
#[doc(hidden)]
#[macro_export]
macro_rules! on_deployments {
    ($name:ident, $args:tt, $($test:ident => $start:ident),+) => {
        mod $name {
            $(
                #[tokio::test $args]
                async fn $test() {
                    super::$name($crate::harness::TestRedis::$start().await).await
                }
            )+
        }
    };
}

/// Keeps the server at `url` busy for `busy` with one long script from a connection of its own
/// (no response timeout), so that commands sent meanwhile wait in their sockets: for tests of
/// replies that do not come in time. Await the handle to know the server is free again.
pub async fn keep_busy(url: &str, busy: std::time::Duration) -> tokio::task::JoinHandle<()> {
    let mut raw = redis::Client::open(url)
        .expect("server url")
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .expect("busy connection");
    let micros = busy.as_micros();
    tokio::spawn(async move {
        let _: () = redis::cmd("EVAL")
            .arg(
                "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] \
                 repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > tonumber(ARGV[1])",
            )
            .arg(0)
            .arg(micros.to_string())
            .query_async(&mut raw)
            .await
            .expect("busy script");
    })
}
