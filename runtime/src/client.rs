//! Connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

use crate::error::Result;
use crate::keys::Keyspace;
use crate::ops::Pipeline;

/// A handle on one Redis server: a multiplexed connection that reconnects by itself, and the
/// keyspace every repository uses. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    conn: ConnectionManager,
    keys: Arc<Keyspace>,
    // Identifies the connection shared by clones, so pipelines can refuse foreign operations.
    id: u64,
    dedicated: Arc<DedicatedPool>,
}

/// Connections used by one task at a time, for WATCH (which a shared multiplexed connection
/// cannot carry safely: another task's EXEC would consume it).
struct DedicatedPool {
    client: redis::Client,
    config: redis::AsyncConnectionConfig,
    idle: std::sync::Mutex<Vec<MultiplexedConnection>>,
}

/// At most this many idle dedicated connections are kept.
const MAX_IDLE_DEDICATED: usize = 16;

/// A connection no other task uses until it is returned with [`Dedicated::finish`]. Dropped
/// without that (after an error, in the middle of a WATCH), it is closed instead.
pub(crate) struct Dedicated {
    pub(crate) conn: MultiplexedConnection,
    pool: Arc<DedicatedPool>,
}

impl Dedicated {
    /// Returns the connection to the pool: only call when no WATCH or MULTI is pending on it.
    pub(crate) fn finish(self) {
        if let Ok(mut idle) = self.pool.idle.lock()
            && idle.len() < MAX_IDLE_DEDICATED
        {
            idle.push(self.conn);
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `redis://host:port/db`, `rediss://...` or `redis+unix:///path/to/socket`
    /// (also `unix:///path`).
    pub async fn connect(url: &str) -> Result<Client> {
        ClientBuilder::new(url).connect().await
    }

    /// Configures a connection before opening it.
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The shared multiplexed connection (for commands rapyer does not wrap).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The key layout in use.
    pub fn keys(&self) -> &Keyspace {
        &self.keys
    }

    /// A new, empty pipeline on this client (see [`Pipeline`]).
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(self)
    }

    /// True when both handles share one connection (one is a clone of the other).
    pub(crate) fn same_connection(&self, other: &Client) -> bool {
        self.id == other.id
    }

    /// A connection for this task alone (optimistic transactions).
    pub(crate) async fn dedicated(&self) -> Result<Dedicated> {
        let pool = &self.dedicated;
        let idle = pool.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                pool.client
                    .get_multiplexed_async_connection_with_config(&pool.config)
                    .await?
            }
        };
        Ok(Dedicated {
            conn,
            pool: Arc::clone(pool),
        })
    }
}

/// Options for [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    namespace: Option<String>,
    response_timeout: Option<Duration>,
    connection_timeout: Option<Duration>,
}

/// How long a command may wait for its reply by default. A write that times out may or may not
/// have been applied, so this is generous: it is meant to catch a dead server, not a busy one.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting (and reconnecting) may take by default.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

impl ClientBuilder {
    /// Starts from a URL.
    pub fn new(url: &str) -> Self {
        ClientBuilder {
            url: url.to_string(),
            namespace: None,
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
            connection_timeout: Some(DEFAULT_CONNECTION_TIMEOUT),
        }
    }

    /// Puts every key under `namespace:` (several applications or test runs on one server).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// How long a command waits for its reply before failing with a timeout (`None`: forever).
    /// Default [`DEFAULT_RESPONSE_TIMEOUT`]. After a timeout the outcome of a write is unknown.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take (`None`: forever). Default [`DEFAULT_CONNECTION_TIMEOUT`].
    pub fn connection_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Opens the connection.
    pub async fn connect(self) -> Result<Client> {
        let keys = Keyspace::new(self.namespace)?;
        let client = redis::Client::open(self.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(self.response_timeout)
            .set_connection_timeout(self.connection_timeout);
        let conn = client.get_connection_manager_with_config(config).await?;
        let dedicated = Arc::new(DedicatedPool {
            client,
            config: redis::AsyncConnectionConfig::new()
                .set_response_timeout(self.response_timeout)
                .set_connection_timeout(self.connection_timeout),
            idle: std::sync::Mutex::new(Vec::new()),
        });
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Client {
            conn,
            keys: Arc::new(keys),
            id,
            dedicated,
        })
    }
}
