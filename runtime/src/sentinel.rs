//! Following a master through Redis Sentinel.
//!
//! The client asks the sentinels which server is the master of its name, checks that the server
//! says so itself (`HELLO` answers its role: a sentinel's view can lag a failover), and talks to
//! it over one multiplexed connection. When that connection fails, or the server answers
//! `READONLY` (it was demoted), the next call asks the sentinels again and connects to the master
//! they name. Dedicated connections (`update`'s WATCH) go to the master of the moment too.
//!
//! This only changes where commands go: the at-most-once rules of [`conn`](crate::conn) are the
//! same as on one server (a write whose reply was lost in the failover is
//! [`Error::OutcomeUnknown`], never resent).

use std::sync::Mutex;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, ConnectionInfo, RedisError, RedisFuture, Value};

use crate::conn::NodeAddr;
use crate::error::{Error, Result};

/// The master of one name, as the sentinels last named it, and the connection to it.
pub(crate) struct SentinelMaster {
    /// The sentinels, as given (credentials and TLS from their URLs and the builder).
    sentinels: Vec<ConnectionInfo>,
    /// The master's name in the sentinels' configuration.
    name: String,
    /// How to connect to a master (credentials, TLS); the address is replaced by the master's.
    template: ConnectionInfo,
    config: redis::AsyncConnectionConfig,
    current: Mutex<Current>,
    /// One refresh at a time; the others wait for it and use its result.
    refreshing: tokio::sync::Mutex<()>,
}

/// The master in use.
#[derive(Clone)]
struct Current {
    node: NodeAddr,
    conn: MultiplexedConnection,
    /// Counts refreshes, so that trouble seen on an old connection does not start another.
    generation: u64,
}

impl SentinelMaster {
    /// Finds the master of `name` and connects to it.
    pub(crate) async fn connect(
        sentinels: Vec<ConnectionInfo>,
        name: String,
        template: ConnectionInfo,
        config: redis::AsyncConnectionConfig,
    ) -> Result<SentinelMaster> {
        let (node, conn) = find_master(&sentinels, &name, &template, &config).await?;
        Ok(SentinelMaster {
            sentinels,
            name,
            template,
            config,
            current: Mutex::new(Current {
                node,
                conn,
                generation: 0,
            }),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The master in use.
    pub(crate) fn node(&self) -> NodeAddr {
        self.current().node
    }

    /// The connection to the master in use.
    pub(crate) fn connection(&self) -> MultiplexedConnection {
        self.current().conn
    }

    /// After trouble with the connection of `seen` (its generation): asks the sentinels again
    /// and connects to the master they name, unless another task already did since.
    pub(crate) async fn refresh(&self, seen: u64) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.current().generation != seen {
            return Ok(());
        }
        let (node, conn) =
            find_master(&self.sentinels, &self.name, &self.template, &self.config).await?;
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Current {
            node,
            conn,
            generation: seen + 1,
        };
        Ok(())
    }

    /// Refreshes after trouble seen now (a dedicated connection failed, say).
    pub(crate) async fn trouble(&self) {
        let seen = self.current().generation;
        // A failed refresh is retried by the next call that meets trouble.
        let _ = self.refresh(seen).await;
    }
}

/// Asks each sentinel in turn for the master of `name`, and connects to the first server that
/// confirms it is a master.
async fn find_master(
    sentinels: &[ConnectionInfo],
    name: &str,
    template: &ConnectionInfo,
    config: &redis::AsyncConnectionConfig,
) -> Result<(NodeAddr, MultiplexedConnection)> {
    let mut last: Option<Error> = None;
    for sentinel in sentinels {
        let asked = ask_sentinel(sentinel, name, config).await;
        let node = match asked {
            Ok(node) => node,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let info = template
            .clone()
            .set_addr(crate::client::node_addr(template.addr(), &node));
        let server = info.addr().to_string();
        let connected = async {
            let mut conn = redis::Client::open(info)?
                .get_multiplexed_async_connection_with_config(config)
                .await?;
            let hello: Value = redis::cmd("HELLO").query_async(&mut conn).await?;
            Ok::<_, RedisError>((conn, crate::preflight::field(hello, "role")))
        };
        match connected.await {
            Ok((conn, role)) if role.as_deref() == Some("master") => return Ok((node, conn)),
            Ok((_, role)) => {
                last = Some(Error::UnsupportedServer {
                    server,
                    found: format!("a {}", role.unwrap_or_else(|| "server".into())),
                    needed: format!("the master of `{name}`, as a sentinel named it"),
                });
            }
            Err(source) => last = Some(Error::Connect { server, source }),
        }
    }
    Err(last.unwrap_or_else(|| Error::Config("no sentinel was given".into())))
}

/// The master of `name` according to one sentinel.
async fn ask_sentinel(
    sentinel: &ConnectionInfo,
    name: &str,
    config: &redis::AsyncConnectionConfig,
) -> Result<NodeAddr> {
    let server = sentinel.addr().to_string();
    let connect_error = |source| Error::Connect {
        server: server.clone(),
        source,
    };
    let mut conn = redis::Client::open(sentinel.clone())
        .map_err(connect_error)?
        .get_multiplexed_async_connection_with_config(config)
        .await
        .map_err(connect_error)?;
    let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(name)
        .query_async(&mut conn)
        .await
        .map_err(connect_error)?;
    match reply {
        Some((host, port)) => Ok(NodeAddr { host, port }),
        None => Err(Error::Config(format!(
            "the sentinel at {server} knows no master named `{name}`"
        ))),
    }
}

/// The shared connection of a client under Sentinel: the current master's, replaced after
/// trouble.
#[derive(Clone)]
pub struct SentinelConnection {
    pub(crate) master: std::sync::Arc<SentinelMaster>,
}

/// Whether `e` may mean that the master moved: its connection is gone, or it was demoted.
fn master_trouble(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

impl SentinelConnection {
    async fn after<T>(
        &self,
        generation: u64,
        result: redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        if let Err(e) = &result
            && master_trouble(e)
        {
            // The call fails either way; the next one goes to the master found now.
            let _ = self.master.refresh(generation).await;
        }
        result
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let Current {
                mut conn,
                generation,
                ..
            } = self.master.current();
            let result = conn.req_packed_command(cmd).await;
            self.after(generation, result).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let Current {
                mut conn,
                generation,
                ..
            } = self.master.current();
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            self.after(generation, result).await
        })
    }

    fn get_db(&self) -> i64 {
        self.master.template.redis_settings().db()
    }
}
