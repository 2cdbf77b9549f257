//! # rapyer
//!
//! The runtime of rapyer-rs: typed models in plain Redis (>= 7.0, no modules), generated from YAML
//! schemas by `rapyer-gen`. Generated code links against this crate only; it re-exports what that
//! code needs (`chrono`, `uuid`, `serde`, `serde_json`), so a user adds one dependency.
//!
//! ```no_run
//! # async fn demo() -> rapyer::Result<()> {
//! let db = rapyer::Client::connect("redis://127.0.0.1/").await?;
//! // The same generated code on a Redis Cluster (or a Valkey cluster):
//! let cluster = rapyer::Client::connect_cluster(&["redis://10.0.0.1:7000"]).await?;
//! # let _ = (db, cluster); Ok(()) }
//! ```
//!
//! Every command goes through one rule (see [`conn`]): it is retried only when a reply proves it
//! did not run; a write whose reply is lost is [`Error::OutcomeUnknown`], never resent.
//!
//! See `docs/` in the repository for the schema language, the storage layout and Redis Cluster.

pub mod acl;
pub mod claims;
pub mod client;
pub mod codec;
pub mod conn;
pub mod error;
pub mod index;
pub mod keys;
pub mod lock;
pub mod migrate;
pub mod model;
pub mod ops;
pub mod page;
mod preflight;
mod protocol;
pub mod record;
pub mod reindex;
pub mod repo;
mod scripts;
mod sentinel;
mod slot;
mod stored;
mod tls;
pub mod tx;

pub use acl::acl_rule;
pub use client::{Client, ClientBuilder};
pub use codec::{AsJson, Codec, CodecError, Element, Finite, Plain};
pub use conn::Connection;
pub use error::{Error, Result};
pub use index::{LookupIndex, Score, SortedIndex, UniqueIndex};
pub use lock::{HeldLocks, InstanceGuard, Lock, LockOptions, LockSet, Ticket};
pub use model::{
    ContainerKind, ContainerMeta, IndexKind, IndexMeta, Model, ModelMeta, PkRef, PrimaryKey,
};
pub use ops::{
    FloatField, Group, GroupOutcome, Instance, IntField, ListField, MapField, Op, OptionalField,
    Pipeline, Results, SetField, Slot, SplitResults, ValueField,
};
pub use page::{Cursor, Page};
pub use preflight::ServerInfo;
pub use record::{Flat, RecordReader, RecordWriter};
pub use reindex::{ReindexReport, UniqueConflict};
pub use repo::Repo;
pub use sentinel::SentinelConnection;
pub use tx::TxOptions;

pub use chrono;
/// `Stream` and `StreamExt`, for the streams of `Repo::stream` and `SortedIndex::stream`.
pub use futures_util;
pub use redis;
pub use serde;
pub use serde_json;
pub use uuid;

/// The full text of the field operations script, for `redis-benchmark` ceilings measured beside
/// rapyer (`tests/src/bin/bench-report.rs`).
#[doc(hidden)]
pub fn ops_script_body() -> &'static str {
    scripts::OPS.body()
}

/// The datetime type of `datetime` fields.
pub type DateTime = chrono::DateTime<chrono::Utc>;
/// The type of `uuid` fields.
pub type Uuid = uuid::Uuid;
/// The type of `json` fields.
pub type Json = serde_json::Value;
