//! Following a master through Redis Sentinel.
//!
//! The client asks the sentinels which server is the master of its name, checks that the server
//! says so itself (`HELLO` answers its role: a sentinel's view can lag a failover), and talks to
//! it over one multiplexed connection. It moves to a new master:
//!
//! - at once when a sentinel announces it (`+switch-master`, watched by a background task for
//!   as long as the client lives): the old master keeps accepting writes for seconds after a
//!   failover, until the sentinels reconfigure it, and those writes would be lost;
//! - when the connection fails, or the server answers `READONLY` (it was demoted): the next call
//!   asks the sentinels again.
//!
//! Dedicated connections (`update`'s WATCH) go to the master of the moment, checked to be one.
//!
//! This only changes where commands go: the at-most-once rules of [`conn`](crate::conn) are the
//! same as on one server (a write whose reply was lost in the failover is
//! [`Error::OutcomeUnknown`], never resent).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, ConnectionInfo, RedisError, RedisFuture, Value};

use crate::addr::{NodeAddr, node_addr};
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

    /// Makes `node` (connected by `conn`) the master in use, as refresh number `generation`.
    fn set_current(&self, node: NodeAddr, conn: MultiplexedConnection, generation: u64) {
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Current {
            node,
            conn,
            generation,
        };
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
        self.set_current(node, conn, seen + 1);
        Ok(())
    }

    /// Moves to `node`, announced as the new master, if it says it is one; otherwise asks the
    /// sentinels.
    async fn switch_to(&self, node: Option<NodeAddr>) {
        let _one_at_a_time = self.refreshing.lock().await;
        let seen = self.current().generation;
        if let Some(node) = node
            && let Ok(conn) = connect_master(&node, &self.template, &self.config).await
        {
            self.set_current(node, conn, seen + 1);
            return;
        }
        drop(_one_at_a_time);
        let _ = self.refresh(seen).await;
    }

    /// Refreshes after trouble seen now (a dedicated connection failed, say).
    pub(crate) async fn trouble(&self) {
        let seen = self.current().generation;
        // A failed refresh is retried by the next call that meets trouble.
        let _ = self.refresh(seen).await;
    }
}

/// Follows the sentinels' `+switch-master` announcements for `master`'s name until the client
/// is dropped, moving the client to the new master as soon as one is announced. Subscribes to
/// one sentinel at a time, the next one when it fails.
pub(crate) fn watch_switches(master: &Arc<SentinelMaster>) {
    let weak: Weak<SentinelMaster> = Arc::downgrade(master);
    let sentinels = master.sentinels.clone();
    let name = master.name.clone();
    tokio::spawn(async move {
        for sentinel in sentinels.iter().cycle() {
            if weak.strong_count() == 0 {
                return;
            }
            let subscribed = async {
                let mut pubsub = redis::Client::open(sentinel.clone())?
                    .get_async_pubsub()
                    .await?;
                pubsub.subscribe("+switch-master").await?;
                Ok::<_, RedisError>(pubsub)
            };
            let Ok(Ok(mut pubsub)) = tokio::time::timeout(Duration::from_secs(2), subscribed).await
            else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let mut messages = pubsub.on_message();
            loop {
                // Wake up now and then to notice a dropped client.
                let next = tokio::time::timeout(Duration::from_secs(1), messages.next()).await;
                let Some(master) = weak.upgrade() else {
                    return;
                };
                match next {
                    // `<name> <old ip> <old port> <new ip> <new port>`
                    Ok(Some(msg)) => {
                        let payload: String = msg.get_payload().unwrap_or_default();
                        let parts: Vec<&str> = payload.split(' ').collect();
                        if let [switched, _, _, host, port] = parts[..]
                            && switched == name
                        {
                            let node = port.parse().ok().map(|port| NodeAddr {
                                host: host.to_string(),
                                port,
                            });
                            master.switch_to(node).await;
                        }
                    }
                    Ok(None) => break,
                    Err(_idle) => {}
                }
            }
        }
    });
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
        match connect_master(&node, template, config).await {
            Ok(conn) => return Ok((node, conn)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Config("no sentinel was given".into())))
}

/// A connection to `node`, if it says it is a master.
async fn connect_master(
    node: &NodeAddr,
    template: &ConnectionInfo,
    config: &redis::AsyncConnectionConfig,
) -> Result<MultiplexedConnection> {
    let info = template.clone().set_addr(node_addr(template.addr(), node));
    let server = info.addr().to_string();
    let connected = async {
        let mut conn = redis::Client::open(info)?
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let role = role(&mut conn).await?;
        Ok::<_, RedisError>((conn, role))
    };
    match connected.await {
        Ok((conn, role)) if role.as_deref() == Some("master") => Ok(conn),
        Ok((_, role)) => Err(Error::UnsupportedServer {
            server,
            found: format!("a {}", role.unwrap_or_else(|| "server".into())),
            needed: "the master, as a sentinel named it".into(),
        }),
        Err(source) => Err(Error::Connect { server, source }),
    }
}

/// The role a server gives itself (`master`, `replica`), from its `HELLO` answer: a sentinel's
/// view of who is master can lag a failover; the server's own cannot.
pub(crate) async fn role(conn: &mut MultiplexedConnection) -> redis::RedisResult<Option<String>> {
    let hello: Value = redis::cmd("HELLO").query_async(conn).await?;
    Ok(crate::preflight::field(hello, "role"))
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
    pub(crate) master: Arc<SentinelMaster>,
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
