//! Connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Client {
            conn,
            keys: Arc::new(keys),
            id,
        })
    }
}
