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
    Redis(#[from] redis::RedisError),
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
    /// A client option is not valid (namespace with braces, for instance).
    #[error("invalid configuration: {0}")]
    Config(String),
}
