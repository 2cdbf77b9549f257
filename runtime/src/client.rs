//! Connections.

use std::sync::atomic::{AtomicU64, Ordering};

use redis::aio::ConnectionManager;

use crate::error::Result;
use crate::keys::Keyspace;
use crate::ops::Pipeline;

/// A handle on one Redis server: a multiplexed connection that reconnects by itself, and the
/// keyspace every repository uses. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    conn: ConnectionManager,
    keys: Keyspace,
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
}

impl ClientBuilder {
    /// Starts from a URL.
    pub fn new(url: &str) -> Self {
        ClientBuilder {
            url: url.to_string(),
            namespace: None,
        }
    }

    /// Puts every key under `namespace:` (several applications or test runs on one server).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Opens the connection.
    pub async fn connect(self) -> Result<Client> {
        let keys = Keyspace::new(self.namespace)?;
        let client = redis::Client::open(self.url.as_str())?;
        let conn = client.get_connection_manager().await?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Client { conn, keys, id })
    }
}
