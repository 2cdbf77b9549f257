//! The errors every rapyer operation can return.

/// Result of a rapyer operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Redis errors are wrapped; everything rapyer itself detects has its own variant
/// so that callers can match on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection or the server failed (I/O, timeout, server error reply).
    #[error("redis error: {0}")]
    Redis(#[source] redis::RedisError),
    /// `insert` found an instance with the same primary key; nothing was written.
    #[error("{model} `{pk}` already exists (key `{key}`)")]
    AlreadyExists {
        /// Model name.
        model: &'static str,
        /// The primary key, as text.
        pk: String,
        /// The instance's Redis key.
        key: String,
    },
    /// The instance does not exist.
    #[error("{model} `{pk}` not found (key `{key}`)")]
    NotFound {
        /// Model name.
        model: &'static str,
        /// The primary key, as text.
        pk: String,
        /// The instance's Redis key.
        key: String,
    },
    /// Data in Redis does not decode into the schema's type: someone wrote something else there,
    /// or an incompatible schema version wrote it.
    #[error("cannot decode field `{field}` of key `{key}`: {reason}")]
    Decode {
        /// The Redis key that holds the bad data.
        key: String,
        /// The schema field (`stats.wins`), or the container element.
        field: String,
        /// What was expected and found.
        reason: String,
    },
    /// A value cannot be stored faithfully (a NaN float, for instance); nothing was written.
    #[error("cannot store field `{field}`: {reason}")]
    Encode {
        /// The schema field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The primary key cannot be used (empty, for instance).
    #[error("invalid primary key {pk:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        pk: String,
        /// Why.
        reason: &'static str,
    },
    /// An increment would leave the range of the field's type (a 64-bit integer, a finite
    /// float); nothing was written.
    #[error("cannot update field `{field}` of key `{key}`: {reason}")]
    Overflow {
        /// The Redis key.
        key: String,
        /// The schema field (`stats.wins`), or the map entry.
        field: String,
        /// The values involved.
        reason: String,
    },
    /// `set(index)` on a list position that does not exist; nothing was written.
    #[error("index {index} is out of range for list `{field}` (key `{key}`)")]
    IndexOutOfRange {
        /// The list's Redis key.
        key: String,
        /// The list field.
        field: String,
        /// The index asked for.
        index: i64,
    },
    /// Redis refused an operation (out of memory, for instance) before anything of it or of its
    /// pipeline was written; nothing was applied.
    #[error(
        "Redis refused the operation on field `{field}` of key `{key}`; nothing was written: {reason}"
    )]
    Refused {
        /// Its Redis key.
        key: String,
        /// Its field.
        field: String,
        /// The Redis error.
        reason: String,
    },
    /// Redis refused an operation after earlier operations of the same pipeline were applied.
    /// Prechecks make this happen only when something outside rapyer changed the data in a way
    /// they cannot foresee; the operations before `op` stay applied (Redis has no rollback).
    #[error(
        "pipeline operation #{op} on field `{field}` of key `{key}` failed after earlier operations were applied: {reason}"
    )]
    PartiallyApplied {
        /// Position of the failed operation in the pipeline, from 0.
        op: usize,
        /// Its Redis key.
        key: String,
        /// Its field.
        field: String,
        /// The Redis error.
        reason: String,
    },
    /// A pipeline was used wrongly: a slot from another pipeline, a result taken twice, an
    /// operation built on another client.
    #[error("pipeline misuse: {0}")]
    Pipeline(&'static str),
    /// A write would give a unique-indexed field a value another instance holds; nothing was
    /// written.
    #[error("{model} `{holder}` already has {field} = {value:?}")]
    UniqueViolation {
        /// Model name.
        model: &'static str,
        /// The unique field.
        field: String,
        /// The value, as stored.
        value: String,
        /// The pk of the instance holding it.
        holder: String,
    },
    /// A lock this write required is no longer held (its TTL ran out and someone else may hold
    /// it now); nothing was written.
    #[error("lock `{key}` is no longer held; nothing was written")]
    LockLost {
        /// The lock's key.
        key: String,
    },
    /// On a cluster, the write did not land within the lease on the unique values it reserved
    /// (see `claims`); nothing was written and the reservations were given back.
    #[error(
        "{model} `{pk}`: the write came too late for the unique values it reserved; nothing was written"
    )]
    LeaseExpired {
        /// Model name.
        model: &'static str,
        /// The primary key, as text.
        pk: String,
    },
    /// A lock could not be acquired before the deadline.
    #[error("lock `{key}` is held by someone else; gave up after {waited:?}")]
    LockTimeout {
        /// The lock's key.
        key: String,
        /// How long acquiring was tried.
        waited: std::time::Duration,
    },
    /// An optimistic transaction kept conflicting with other writers and gave up; nothing was
    /// written.
    #[error("{model} `{pk}` changed under every one of {attempts} attempts; nothing was written")]
    Conflict {
        /// Model name.
        model: &'static str,
        /// The primary key, as text (the first one, for several instances).
        pk: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The closure of a transaction returned an error; nothing was written.
    #[error("transaction aborted: {0}")]
    Aborted(Box<dyn std::error::Error + Send + Sync>),
    /// The command was sent but no reply came back (a timeout, a dropped connection): it may or
    /// may not have been applied. rapyer never resends such a write; read the data to find out.
    #[error(
        "outcome unknown, the write may or may not have been applied (it was not resent): {source}"
    )]
    OutcomeUnknown {
        /// What happened to the connection.
        source: redis::RedisError,
    },
    /// Redis kept answering that it could not run the command (a failover or resharding in
    /// progress, a server loading its data) for the client's whole retry budget; nothing was
    /// applied.
    #[error(
        "Redis could not run the command within the retry budget; nothing was applied: {source}"
    )]
    Unavailable {
        /// The last answer.
        source: redis::RedisError,
    },
    /// The write was applied on the master, but fewer replicas than asked for
    /// (`ClientBuilder::wait_replicas`) confirmed it in time: it may be lost if the master
    /// fails now.
    #[error("applied on the master, but only {acked} of {wanted} replicas confirmed it in time")]
    NotDurable {
        /// Replicas that confirmed.
        acked: u32,
        /// Replicas asked for.
        wanted: u32,
    },
    /// On a cluster, the keys of one atomic step (a pipeline, an `update_many`) span several
    /// hash slots, which no script or transaction can touch together; nothing was sent. Group
    /// the work by instance (or colocated instances), or use `Pipeline::exec_split`.
    #[error(
        "the operations span hash slots {slots:?} of the cluster, which cannot change in one atomic step; nothing was sent"
    )]
    CrossSlot {
        /// The slots involved.
        slots: Vec<u16>,
    },
    /// A condition of a batch (`expect_lt`, `expect_unset`...) did not hold when the batch ran;
    /// nothing of the batch was written.
    #[error(
        "condition {field} {condition} does not hold (found {found}) on `{key}`; nothing was written"
    )]
    ConditionFailed {
        /// The instance's key.
        key: String,
        /// The field the condition is on.
        field: String,
        /// The condition, as `lt 10` or `unset`.
        condition: String,
        /// What the field held: its stored text, or `unset`.
        found: String,
    },
    /// A client option is not valid (namespace with braces, for instance).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Connecting failed: the address, the TLS handshake (a certificate from an unknown CA, a
    /// host name the certificate does not name) or the login (user, password). Returned at
    /// once by `connect`, never retried.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// The server (`host:port` or socket path; never the password).
        server: String,
        /// What failed.
        source: redis::RedisError,
    },
    /// The server is not one rapyer supports (older than Redis 7.0, or not the kind of
    /// deployment the client was built for).
    #[error("{server} is {found}: {needed}")]
    UnsupportedServer {
        /// The server.
        server: String,
        /// What it is (product, version, mode).
        found: String,
        /// What rapyer needs instead.
        needed: String,
    },
    /// The server may evict keys that have no TTL (`maxmemory-policy allkeys-*`): evicting one
    /// key of an instance (its list, an index entry) would corrupt it silently. Set
    /// `noeviction` (or a `volatile-*` policy), or accept it with
    /// `ClientBuilder::allow_key_eviction`.
    #[error(
        "{server} has maxmemory-policy {policy}, which may evict any key, so part of an instance could vanish; use noeviction, or ClientBuilder::allow_key_eviction to accept it"
    )]
    EvictingServer {
        /// The server.
        server: String,
        /// Its `maxmemory-policy`.
        policy: String,
    },
    /// The server is out of memory (`maxmemory` reached under `noeviction`) and refused the
    /// write before any of it ran: nothing was applied. Reads keep working.
    #[error("Redis is out of memory and refused the write; nothing was applied: {message}")]
    OutOfMemory {
        /// The server's words.
        message: String,
    },
    /// The ACL user may not run a command, or not on these keys (`NOPERM`); nothing was run.
    /// `docs/security.md` gives an ACL rule with everything rapyer needs.
    #[error("the ACL user may not run {command} on {keys:?}: {message}")]
    NoPermission {
        /// The command refused (`EVALSHA <script>` for rapyer's scripts).
        command: String,
        /// The keys it was sent with.
        keys: Vec<String>,
        /// The server's words.
        message: String,
    },
}

/// Whether Redis refused for lack of memory: `OOM`, or a transaction discarded at `EXEC`
/// because a command was refused with `OOM` while queued.
pub(crate) fn is_out_of_memory(e: &redis::RedisError) -> bool {
    e.code() == Some("OOM")
        || (e.code() == Some("EXECABORT") && e.detail().is_some_and(|d| d.contains("OOM")))
}

impl From<redis::RedisError> for Error {
    /// `OOM` becomes [`Error::OutOfMemory`], a permission refusal [`Error::NoPermission`]
    /// (naming the command when the server's words do; the connection layer adds the
    /// command and keys it sent); every other error stays a Redis error.
    fn from(e: redis::RedisError) -> Error {
        if is_out_of_memory(&e) {
            return Error::OutOfMemory {
                message: e.to_string(),
            };
        }
        match permission_refusal(&e) {
            Some(command) => Error::NoPermission {
                command,
                keys: Vec::new(),
                message: e.to_string(),
            },
            None => Error::Redis(e),
        }
    }
}

/// When `e` says the ACL user may not do something: the command it names, or `"a command"`.
/// Redis says `NOPERM` for commands sent by the client; a command a script calls is refused
/// with a plain `ERR The user executing the script can't ...`, which only its words tell.
fn permission_refusal(e: &redis::RedisError) -> Option<String> {
    let text = e.to_string();
    let refused =
        e.code() == Some("NOPERM") || text.contains("The user executing the script can't");
    if !refused {
        return None;
    }
    let named = text
        .split_once("run the '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(command, _)| command.to_uppercase());
    Some(named.unwrap_or_else(|| "a command".to_string()))
}

impl Error {
    /// Maps a Redis error reply (the script's own, say) with `f`; other errors stay.
    pub(crate) fn map_redis(self, f: impl FnOnce(redis::RedisError) -> Error) -> Error {
        match self {
            Error::Redis(e) => f(e),
            other => other,
        }
    }
}

impl Error {
    /// The same error for another instance of one failed call (a bulk call's group): what the
    /// call's failure means for every instance in it, such as an unknown outcome.
    pub(crate) fn for_another(&self) -> Error {
        match self {
            Error::Redis(e) => Error::Redis(e.clone()),
            Error::OutcomeUnknown { source } => Error::OutcomeUnknown {
                source: source.clone(),
            },
            Error::Unavailable { source } => Error::Unavailable {
                source: source.clone(),
            },
            Error::NotDurable { acked, wanted } => Error::NotDurable {
                acked: *acked,
                wanted: *wanted,
            },
            Error::CrossSlot { slots } => Error::CrossSlot {
                slots: slots.clone(),
            },
            Error::Config(m) => Error::Config(m.clone()),
            Error::OutOfMemory { message } => Error::OutOfMemory {
                message: message.clone(),
            },
            Error::NoPermission {
                command,
                keys,
                message,
            } => Error::NoPermission {
                command: command.clone(),
                keys: keys.clone(),
                message: message.clone(),
            },
            other => Error::Redis(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the call holding this instance failed",
                other.to_string(),
            ))),
        }
    }
}
