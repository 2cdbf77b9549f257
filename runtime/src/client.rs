//! Connections: to one server or to a cluster, behind one [`Client`] type.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManagerConfig, MultiplexedConnection};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

use crate::addr::{NodeAddr, node_addr};
use crate::conn::{self, Call, Connection, Policy};
use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::preflight::{self, Expect, ServerInfo};
use crate::sentinel::{SentinelConnection, SentinelMaster};
use crate::slot;
use crate::tls::TlsSettings;

/// A handle on Redis, one server or a cluster: a shared multiplexed connection that reconnects by
/// itself, and the keyspace every repository uses. Cheap to clone; clones share the connection.
///
/// Generated repositories work the same on both. On a cluster, everything about one instance
/// lives in one hash slot, so every write of an instance stays one atomic step; what changes is
/// spelled out in `docs/cluster.md`.
#[derive(Clone)]
pub struct Client {
    conn: Connection,
    keys: Arc<Keyspace>,
    // Identifies the connection shared by clones, so pipelines can refuse foreign operations.
    id: u64,
    shared: Arc<Shared>,
}

/// What clones of a client share besides the connection.
struct Shared {
    policy: Policy,
    dedicated: DedicatedPool,
    cluster: bool,
    server: ServerInfo,
    /// Single operations share script calls under load (see `ops/coalesce.rs`), unless off.
    coalesce: bool,
    /// The queues of this client's transactions on one instance (see `turns.rs`), unless off.
    turns: Option<crate::turns::Turns>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("keys", &self.keys)
            .field("cluster", &self.shared.cluster)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to one server: `redis://[user:password@]host:port/db`, `rediss://...` (TLS with
    /// the system's root certificates; the `tls` feature, on by default) or
    /// `redis+unix:///path/to/socket` (also `unix:///path`).
    pub async fn connect(url: &str) -> Result<Client> {
        ClientBuilder::new(url).connect().await
    }

    /// Configures a connection to one server before opening it.
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// Connects to the master that Redis Sentinel names `master_name`, through any of
    /// `sentinels` (`redis://host:26379`, `rediss://...`), and follows it through failovers
    /// (see `docs/security.md`).
    pub async fn connect_sentinel<S: AsRef<str>>(
        sentinels: &[S],
        master_name: &str,
    ) -> Result<Client> {
        ClientBuilder::sentinel(sentinels, master_name)
            .connect()
            .await
    }

    /// Configures a connection through Sentinel before opening it.
    pub fn sentinel_builder<S: AsRef<str>>(sentinels: &[S], master_name: &str) -> ClientBuilder {
        ClientBuilder::sentinel(sentinels, master_name)
    }

    /// Connects to a Redis Cluster (or a Valkey cluster) through any of its nodes
    /// (`redis://host:port` URLs; the others are discovered). Unix sockets cannot be used: a
    /// cluster only announces its nodes by IP address and port.
    pub async fn connect_cluster<S: AsRef<str>>(nodes: &[S]) -> Result<Client> {
        ClientBuilder::cluster(nodes).connect().await
    }

    /// Configures a connection to a cluster before opening it.
    pub fn cluster_builder<S: AsRef<str>>(nodes: &[S]) -> ClientBuilder {
        ClientBuilder::cluster(nodes)
    }

    /// The shared connection (for commands rapyer does not wrap).
    pub fn connection(&self) -> Connection {
        self.conn.clone()
    }

    /// What the client learned about its server (the seed node, on a cluster) at connect.
    pub fn server(&self) -> &ServerInfo {
        &self.shared.server
    }

    /// True when connected to a cluster.
    pub fn is_cluster(&self) -> bool {
        self.shared.cluster
    }

    /// The key layout in use.
    pub fn keys(&self) -> &Keyspace {
        &self.keys
    }

    /// True when both handles share one connection (one is a clone of the other).
    pub(crate) fn same_connection(&self, other: &Client) -> bool {
        self.id == other.id
    }

    /// True when concurrent single operations share script calls.
    pub(crate) fn coalesces(&self) -> bool {
        self.shared.coalesce
    }

    /// The queues of this client's transactions, unless it does not take turns.
    pub(crate) fn turns(&self) -> Option<&crate::turns::Turns> {
        self.shared.turns.as_ref()
    }

    /// Identifies the connection this client and its clones share.
    pub(crate) fn connection_id(&self) -> u64 {
        self.id
    }

    /// Runs one command under rapyer's rules: at most once, retried only when a reply proves it
    /// did not run (see [`conn`](crate::conn)).
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Value> {
        conn::execute(&self.conn, &self.shared.policy, call).await
    }

    /// Runs `call` with `then` sent behind it in the same round trip (one server only, see
    /// [`conn::execute_then`]).
    pub(crate) async fn execute_then(
        &self,
        call: Call<'_>,
        then: &[redis::Cmd],
    ) -> Result<(Value, Vec<Value>)> {
        conn::execute_then(&self.conn, &self.shared.policy, call, then).await
    }

    /// Runs commands that only read in one MULTI/EXEC (one server or a Sentinel's master only,
    /// see [`conn::read_atomically`]).
    pub(crate) async fn read_atomically(&self, reads: Vec<redis::Cmd>) -> Result<Vec<Value>> {
        conn::read_atomically(&self.conn, &self.shared.policy, reads).await
    }

    /// Runs one command (see [`Client::execute`]) and converts its reply.
    pub(crate) async fn query<T: redis::FromRedisValue>(&self, call: Call<'_>) -> Result<T> {
        let reply = self.execute(call).await?;
        T::from_redis_value(reply).map_err(|e| Error::Redis(e.into()))
    }

    /// The `WAIT` to send after writes, if the client asks for one.
    pub(crate) fn wait_replicas(&self) -> Option<(u32, Duration)> {
        self.shared.policy.wait_replicas
    }

    /// How long commands that did not run are retried.
    pub(crate) fn retry_for(&self) -> Duration {
        self.shared.policy.retry_for
    }

    /// How long a reserved unique value is held.
    pub(crate) fn unique_lease(&self) -> Duration {
        self.shared.policy.unique_lease
    }

    /// Whether this client calls its scripts as functions.
    pub(crate) fn functions(&self) -> &crate::script::Functions {
        &self.shared.policy.functions
    }

    /// The simulated claim fault, if any.
    pub(crate) fn claim_fault(&self) -> Option<crate::conn::ClaimFault> {
        self.shared.policy.claim_fault
    }

    /// A connection for this task alone (optimistic transactions), to the node that serves
    /// `key`.
    pub(crate) async fn dedicated(&self, key: &str) -> Result<Dedicated> {
        let node = if self.shared.cluster {
            Some(self.master_of(slot::slot(key.as_bytes())).await?)
        } else {
            // Under Sentinel, the master of the moment; on one server, the only one.
            self.shared.dedicated.sentinel.as_ref().map(|m| m.node())
        };
        self.shared.dedicated.take(node, self.id).await
    }

    /// The master serving `slot`, from the cached map of the cluster (read once, and again after
    /// a redirect shows it is stale).
    async fn master_of(&self, slot: u16) -> Result<NodeAddr> {
        if let Some(node) = self.shared.dedicated.cached_master(slot) {
            return Ok(node);
        }
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        let reply = self.execute(Call::read(&cmd)).await?;
        let ranges = parse_cluster_slots(reply)?;
        self.shared.dedicated.set_slot_map(ranges);
        self.shared
            .dedicated
            .cached_master(slot)
            .ok_or_else(|| Error::Config(format!("the cluster reports no master for slot {slot}")))
    }

    /// After a dedicated connection failed (a node unreachable, a master demoted): on a
    /// cluster, the map of slots is read again; under Sentinel, the master is asked for again.
    pub(crate) async fn after_trouble(&self) {
        self.shared.dedicated.set_slot_map(Vec::new());
        if let Some(master) = &self.shared.dedicated.sentinel {
            master.trouble().await;
        }
    }

    /// Records that `slot` is served by `node` now (a MOVED redirect said so).
    pub(crate) fn note_moved(&self, slot: u16, node: NodeAddr) {
        self.shared.dedicated.note_moved(slot, node);
    }
}

/// The slot ranges of `CLUSTER SLOTS`: start, end, master.
fn parse_cluster_slots(reply: Value) -> Result<Vec<(u16, u16, NodeAddr)>> {
    let bad = || Error::Config("unexpected reply to CLUSTER SLOTS".into());
    let Value::Array(ranges) = reply else {
        return Err(bad());
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(bad());
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return Err(bad());
        };
        let host = match master.first() {
            Some(Value::BulkString(h)) => String::from_utf8_lossy(h).into_owned(),
            Some(Value::SimpleString(h)) => h.clone(),
            _ => return Err(bad()),
        };
        let Some(Value::Int(port)) = master.get(1) else {
            return Err(bad());
        };
        let (start, end, port) = (
            u16::try_from(*start).map_err(|_| bad())?,
            u16::try_from(*end).map_err(|_| bad())?,
            u16::try_from(*port).map_err(|_| bad())?,
        );
        out.push((start, end, NodeAddr { host, port }));
    }
    Ok(out)
}

/// Connections used by one task at a time, for WATCH (which a shared multiplexed connection
/// cannot carry safely: another task's EXEC would consume it), per node.
struct DedicatedPool {
    /// How to connect: the seed's settings (credentials, TLS, database), its address replaced
    /// by the node's on a cluster.
    info: ConnectionInfo,
    config: redis::AsyncConnectionConfig,
    idle: Mutex<HashMap<Option<NodeAddr>, Vec<MultiplexedConnection>>>,
    /// Cluster only: slot ranges and their masters, as last read.
    slots: Mutex<Vec<(u16, u16, NodeAddr)>>,
    /// Sentinel only: the master of the moment (connections are kept per master address).
    sentinel: Option<Arc<SentinelMaster>>,
}

/// At most this many idle dedicated connections are kept per node.
const MAX_IDLE_DEDICATED: usize = 16;

impl DedicatedPool {
    async fn take(&self, node: Option<NodeAddr>, client: u64) -> Result<Dedicated> {
        let idle = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.get_mut(&node).and_then(Vec::pop));
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let info = match &node {
                    Some(node) => self
                        .info
                        .clone()
                        .set_addr(node_addr(self.info.addr(), node)),
                    None => self.info.clone(),
                };
                let mut conn = redis::Client::open(info)?
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?;
                if let Some(master) = &self.sentinel {
                    self.check_master(&mut conn, master).await?;
                }
                conn
            }
        };
        Ok(Dedicated { conn, node, client })
    }

    /// Under Sentinel, a new dedicated connection must reach a master: the server at the
    /// address the client last knew may have come back as an empty replica. Otherwise the
    /// master is asked for again and the caller told nothing ran (`READONLY`).
    async fn check_master(
        &self,
        conn: &mut MultiplexedConnection,
        master: &SentinelMaster,
    ) -> Result<()> {
        if crate::sentinel::role(conn).await?.as_deref() == Some("master") {
            return Ok(());
        }
        master.trouble().await;
        Err(Error::Redis(redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "READONLY",
            "the server where the master was is not a master now".to_string(),
        ))))
    }

    fn give_back(&self, conn: MultiplexedConnection, node: Option<NodeAddr>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(node).or_default();
            if list.len() < MAX_IDLE_DEDICATED {
                list.push(conn);
            }
        }
    }

    fn cached_master(&self, slot: u16) -> Option<NodeAddr> {
        let slots = self.slots.lock().ok()?;
        slots
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .map(|(_, _, node)| node.clone())
    }

    fn set_slot_map(&self, ranges: Vec<(u16, u16, NodeAddr)>) {
        if let Ok(mut slots) = self.slots.lock() {
            *slots = ranges;
        }
    }

    fn note_moved(&self, slot: u16, node: NodeAddr) {
        if let Ok(mut slots) = self.slots.lock() {
            // The moved slot becomes a range of its own; the rest of the map stays.
            let mut split = Vec::with_capacity(slots.len() + 2);
            for (start, end, owner) in slots.drain(..) {
                if (start..=end).contains(&slot) {
                    if start < slot {
                        split.push((start, slot - 1, owner.clone()));
                    }
                    if slot < end {
                        split.push((slot + 1, end, owner));
                    }
                } else {
                    split.push((start, end, owner));
                }
            }
            split.push((slot, slot, node));
            *slots = split;
        }
    }
}

/// A connection no other task uses until it is returned with [`Dedicated::finish`]. Dropped
/// without that (after an error, in the middle of a WATCH), it is closed instead.
pub(crate) struct Dedicated {
    pub(crate) conn: MultiplexedConnection,
    /// The cluster node it is connected to.
    node: Option<NodeAddr>,
    client: u64,
}

impl Dedicated {
    /// Returns the connection to `client`'s pool: only call when no WATCH or MULTI is pending.
    pub(crate) fn finish(self, client: &Client) {
        debug_assert_eq!(self.client, client.id);
        client.shared.dedicated.give_back(self.conn, self.node);
    }
}

/// Which servers a builder connects to.
#[derive(Debug, Clone)]
enum Servers {
    Single(String),
    Cluster(Vec<String>),
    Sentinel {
        sentinels: Vec<String>,
        master: String,
    },
}

/// Options for [`Client`], for one server ([`Client::builder`]) or a cluster
/// ([`Client::cluster_builder`]).
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    servers: Servers,
    namespace: Option<String>,
    response_timeout: Option<Duration>,
    connection_timeout: Option<Duration>,
    username: Option<String>,
    password: Option<String>,
    retry_for: Duration,
    wait_replicas: Option<(u32, Duration)>,
    unique_lease: Duration,
    claim_fault: Option<crate::conn::ClaimFault>,
    tls: TlsSettings,
    allow_key_eviction: bool,
    coalesce: bool,
    take_turns: bool,
    functions: bool,
}

/// The default lease on a reserved unique value.
pub const DEFAULT_UNIQUE_LEASE: Duration = Duration::from_secs(5);

/// How long a command may wait for its reply by default. A write that times out may or may not
/// have been applied, so this is generous: it is meant to catch a dead server, not a busy one.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting (and reconnecting) may take by default.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command that provably did not run (a redirect, a failover in progress, a server
/// loading its data) is retried by default: long enough to ride out a cluster failover.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(10);

impl ClientBuilder {
    /// Starts from the URL of one server.
    pub fn new(url: &str) -> Self {
        Self::with_servers(Servers::Single(url.to_string()))
    }

    /// Starts from the URLs of some nodes of a cluster.
    pub fn cluster<S: AsRef<str>>(nodes: &[S]) -> Self {
        Self::with_servers(Servers::Cluster(
            nodes.iter().map(|n| n.as_ref().to_string()).collect(),
        ))
    }

    /// Starts from the URLs of sentinels and the name of the master they watch. The masters
    /// are reached like the sentinels (`rediss://` sentinels: TLS masters), with the builder's
    /// credentials (by default, those of the first sentinel URL) and TLS settings.
    pub fn sentinel<S: AsRef<str>>(sentinels: &[S], master_name: &str) -> Self {
        Self::with_servers(Servers::Sentinel {
            sentinels: sentinels.iter().map(|n| n.as_ref().to_string()).collect(),
            master: master_name.to_string(),
        })
    }

    fn with_servers(servers: Servers) -> Self {
        ClientBuilder {
            servers,
            namespace: None,
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
            connection_timeout: Some(DEFAULT_CONNECTION_TIMEOUT),
            username: None,
            password: None,
            retry_for: DEFAULT_RETRY_FOR,
            wait_replicas: None,
            unique_lease: DEFAULT_UNIQUE_LEASE,
            claim_fault: None,
            tls: TlsSettings::default(),
            allow_key_eviction: false,
            coalesce: true,
            take_turns: true,
            functions: true,
        }
    }

    /// Puts every key under `namespace:` (several applications or test runs on one server).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// How long a command waits for its reply before failing with a timeout (`None`: forever).
    /// Default [`DEFAULT_RESPONSE_TIMEOUT`]. After a timeout the outcome of a write is unknown
    /// ([`Error::OutcomeUnknown`]); rapyer never resends it.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Whether single field operations issued concurrently on this client share script calls
    /// (default on): while one call is in flight, the operations issued meanwhile wait for it
    /// and then go together in one call, each with its own result and error (they are not all
    /// or nothing; use a pipeline for that). No timer is involved, so an operation issued on an
    /// idle client is sent at once. Off, every operation is a call of its own.
    pub fn coalesce(mut self, on: bool) -> Self {
        self.coalesce = on;
        self
    }

    /// Whether this client's optimistic transactions on one instance take turns (default on):
    /// an `update` waits for the earlier `update`s of the same instance by this client (and its
    /// clones) to finish, in arrival order, instead of running beside them and losing to them.
    /// Writers elsewhere are still detected by `WATCH` and retried as before. Off, every
    /// transaction runs at once and retries on conflict.
    pub fn take_turns(mut self, on: bool) -> Self {
        self.take_turns = on;
        self
    }

    /// Whether rapyer's Lua runs as Redis Functions (default on): each script is a library,
    /// loaded by `FUNCTION LOAD` on a node the first time a call finds it missing and called by
    /// `FCALL`, so its definitions run once instead of on every call (a third of a small
    /// batch's server time). Off, every call is an `EVALSHA` (an `EVAL` after a NOSCRIPT).
    /// Functions turn off by themselves, for this client, the first time the server or the ACL
    /// user refuses `FCALL` or `FUNCTION LOAD`; the calls refused are sent again as scripts
    /// (nothing ran), so an application user whose rule predates functions keeps working.
    pub fn functions(mut self, on: bool) -> Self {
        self.functions = on;
        self
    }

    /// How long connecting may take (`None`: forever). Default [`DEFAULT_CONNECTION_TIMEOUT`].
    pub fn connection_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The ACL user to log in as (overrides the URL's).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password to log in with (overrides the URL's).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// How long a command whose replies prove it did not run (MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
    /// LOADING, a refused connection...) keeps being retried before [`Error::Unavailable`].
    /// Default [`DEFAULT_RETRY_FOR`].
    pub fn retry_for(mut self, budget: Duration) -> Self {
        self.retry_for = budget;
        self
    }

    /// After each write, wait until `replicas` replicas of the written key's master have it
    /// (`WAIT`), at most `timeout`; fewer acknowledgements fail the write with
    /// [`Error::NotDurable`] (it is applied on the master, its durability is not confirmed).
    /// An acknowledged write then survives the loss of that master. Off by default: Redis
    /// replicates asynchronously, so a write acknowledged just before its master dies can be lost.
    pub fn wait_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait_replicas = Some((replicas, timeout));
        self
    }

    /// How long a unique value reserved by a write stays reserved, on a cluster where the model's
    /// unique index lives apart from its instances (a model with several buckets; see
    /// `docs/cluster.md`): the write must land within three quarters of it, and a
    /// writer that died holding one blocks that value this long. Default
    /// [`DEFAULT_UNIQUE_LEASE`](DEFAULT_UNIQUE_LEASE).
    pub fn unique_lease(mut self, lease: Duration) -> Self {
        self.unique_lease = lease;
        self
    }

    /// Trusts the CA certificates in `pem` (PEM, one or more) for `rediss://` servers, instead of
    /// the system's roots: for a private CA.
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_cert = Some(pem.into());
        self
    }

    /// Presents this certificate chain and private key (PEM) to `rediss://` servers that ask
    /// for one (mutual TLS, `tls-auth-clients yes`).
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Accepts a server whose `maxmemory-policy` may evict keys without a TTL (`allkeys-*`),
    /// which `connect` otherwise refuses with [`Error::EvictingServer`]: an evicted list or
    /// index entry leaves its instance silently incomplete. For caches whose every instance can
    /// be rebuilt.
    pub fn allow_key_eviction(mut self) -> Self {
        self.allow_key_eviction = true;
        self
    }

    /// Makes the claim protocol stop or pause at a step, as if the process died there (tests of
    /// its crash points).
    #[doc(hidden)]
    pub fn simulate_claim_fault(mut self, fault: crate::conn::ClaimFault) -> Self {
        self.claim_fault = Some(fault);
        self
    }

    /// The connection settings of `url`, with the builder's credentials and TLS settings.
    fn info(&self, url: &str) -> Result<ConnectionInfo> {
        let info = self.tls.apply(url.into_connection_info()?)?;
        let mut redis = info.redis_settings().clone();
        if let Some(user) = &self.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        Ok(info.set_redis_settings(redis))
    }

    /// Opens the connection.
    pub async fn connect(self) -> Result<Client> {
        let keys = Keyspace::new(self.namespace.clone())?;
        let dedicated_config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(self.response_timeout)
            .set_connection_timeout(self.connection_timeout);
        let mut sentinel = None;
        let (conn, seed, cluster, server, probe) = match &self.servers {
            Servers::Single(url) => {
                let info = self.info(url)?;
                let (probe, server) = self
                    .probe(&info, Expect::Standalone, &dedicated_config)
                    .await?;
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(self.response_timeout)
                    .set_connection_timeout(self.connection_timeout);
                let conn = redis::Client::open(info.clone())?
                    .get_connection_manager_with_config(config)
                    .await
                    .map_err(|source| Error::Connect {
                        server: info.addr().to_string(),
                        source,
                    })?;
                (Connection::Single(conn), info, false, server, Some(probe))
            }
            Servers::Cluster(nodes) => {
                let infos: Vec<ConnectionInfo> = nodes
                    .iter()
                    .map(|url| self.info(url))
                    .collect::<Result<_>>()?;
                let Some(seed) = infos.first().cloned() else {
                    return Err(Error::Config(
                        "a cluster needs at least one node URL".into(),
                    ));
                };
                if infos
                    .iter()
                    .any(|i| matches!(i.addr(), ConnectionAddr::Unix(_)))
                {
                    return Err(Error::Config(
                        "a cluster cannot be reached through a unix socket: its nodes announce \
                         each other by IP address and port; use redis://host:port URLs"
                            .into(),
                    ));
                }
                let (probe, server) = self
                    .probe(&seed, Expect::Cluster, &dedicated_config)
                    .await?;
                // rapyer retries itself, only what provably did not run: the cluster client's
                // own retries would resend writes whose outcome is unknown.
                let mut builder = redis::cluster::ClusterClientBuilder::new(infos).retries(0);
                #[cfg(feature = "tls")]
                if let Some(tls) = self.tls.for_cluster() {
                    builder = builder.certs(tls.certificates());
                }
                if let Some(t) = self.connection_timeout {
                    builder = builder.connection_timeout(t);
                }
                if let Some(t) = self.response_timeout {
                    builder = builder.response_timeout(t);
                }
                let conn = builder
                    .build()?
                    .get_async_connection()
                    .await
                    .map_err(|source| Error::Connect {
                        server: nodes.join(","),
                        source,
                    })?;
                (Connection::Cluster(conn), seed, true, server, Some(probe))
            }
            Servers::Sentinel { sentinels, master } => {
                let Some(first) = sentinels.first() else {
                    return Err(Error::Config(
                        "Sentinel needs at least one sentinel URL".into(),
                    ));
                };
                let infos: Vec<ConnectionInfo> = sentinels
                    .iter()
                    .map(|url| self.tls.apply(url.as_str().into_connection_info()?))
                    .collect::<Result<_>>()?;
                let template = self.info(first)?;
                let found = SentinelMaster::connect(
                    infos,
                    master.clone(),
                    template.clone(),
                    dedicated_config.clone(),
                )
                .await?;
                let mut conn = found.connection();
                let server = preflight::check(
                    &mut conn,
                    &found.node().to_string(),
                    Expect::Standalone,
                    self.allow_key_eviction,
                )
                .await?;
                let master = Arc::new(found);
                crate::sentinel::watch_switches(&master);
                sentinel = Some(Arc::clone(&master));
                (
                    Connection::Sentinel(SentinelConnection { master }),
                    template,
                    false,
                    server,
                    None,
                )
            }
        };
        let dedicated = DedicatedPool {
            info: seed,
            config: dedicated_config,
            idle: Mutex::new(HashMap::new()),
            slots: Mutex::new(Vec::new()),
            sentinel,
        };
        // The probe becomes the server's first dedicated connection (on a cluster, the seed
        // node's, found by address).
        match (probe, cluster, dedicated.info.addr()) {
            (Some(probe), false, _) => dedicated.give_back(probe, None),
            (
                Some(probe),
                true,
                ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. },
            ) => {
                let node = NodeAddr {
                    host: host.clone(),
                    port: *port,
                };
                dedicated.give_back(probe, Some(node));
            }
            _ => {}
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Client {
            conn,
            keys: Arc::new(keys),
            id,
            shared: Arc::new(Shared {
                policy: Policy {
                    retry_for: self.retry_for,
                    wait_replicas: self.wait_replicas,
                    unique_lease: self.unique_lease,
                    claim_fault: self.claim_fault,
                    functions: Arc::new(crate::script::Functions::new(self.functions)),
                },
                dedicated,
                cluster,
                server,
                coalesce: self.coalesce,
                turns: self.take_turns.then(crate::turns::Turns::default),
            }),
        })
    }
}

impl ClientBuilder {
    /// Opens one connection to `info` (failing at once on a wrong address, certificate or
    /// password, where the reconnecting connection would retry) and checks the server.
    async fn probe(
        &self,
        info: &ConnectionInfo,
        expect: Expect,
        config: &redis::AsyncConnectionConfig,
    ) -> Result<(MultiplexedConnection, ServerInfo)> {
        let server = info.addr().to_string();
        let mut conn = redis::Client::open(info.clone())?
            .get_multiplexed_async_connection_with_config(config)
            .await
            .map_err(|source| Error::Connect {
                server: server.clone(),
                source,
            })?;
        let checked = preflight::check(&mut conn, &server, expect, self.allow_key_eviction).await?;
        Ok((conn, checked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unix_socket_seeds_are_refused_for_a_cluster() {
        let err = Client::connect_cluster(&["redis+unix:///tmp/nothing.sock"])
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("unix socket")),
            "{err}"
        );
        let err = Client::connect_cluster::<&str>(&[]).await.unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn a_moved_slot_updates_the_cached_map() {
        let a = NodeAddr::parse("10.0.0.1:7000").unwrap();
        let b = NodeAddr::parse("10.0.0.2:7000").unwrap();
        let pool = DedicatedPool {
            info: "redis://127.0.0.1/".into_connection_info().unwrap(),
            config: redis::AsyncConnectionConfig::new(),
            idle: Mutex::new(HashMap::new()),
            slots: Mutex::new(vec![(0, 16383, a.clone())]),
            sentinel: None,
        };
        pool.note_moved(749, b.clone());
        assert_eq!(pool.cached_master(748), Some(a.clone()));
        assert_eq!(pool.cached_master(749), Some(b.clone()));
        assert_eq!(pool.cached_master(750), Some(a.clone()));
        pool.note_moved(0, b.clone());
        pool.note_moved(16383, b.clone());
        assert_eq!(pool.cached_master(0), Some(b.clone()));
        assert_eq!(pool.cached_master(16383), Some(b));
        assert_eq!(pool.cached_master(1), Some(a));
    }
}
