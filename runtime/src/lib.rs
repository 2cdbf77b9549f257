//! # rapyer
//!
//! The runtime of rapyer-rs: typed models in plain Redis (>= 7.0 or Valkey, no modules), generated
//! from YAML schemas by `rapyer-gen`. Generated code links against this crate only; it re-exports
//! what that code needs (`chrono`, `uuid`, `serde`, `serde_json`), so an application adds one
//! dependency.
//!
//! ## The shape of it
//!
//! A schema's model `Player` becomes a Rust struct, a [`Model`] implementation and a
//! `PlayerRepo` (a [`Repo<Player>`](Repo) with the queries of the model's indexes). Through the
//! repository an application reads and writes whole instances (`insert`, `get`, `save`,
//! `delete`), runs atomic field operations (`players.fields(&id).score().incr(10)`, an [`Op`]),
//! groups operations into an all-or-nothing [`Pipeline`], updates an instance optimistically
//! (`update`, retried on conflict), takes [`Lock`]s with fencing tokens, and queries indexes
//! ([`SortedIndex`], [`UniqueIndex`], [`LookupIndex`]).
//!
//! ```no_run
//! # async fn demo() -> rapyer::Result<()> {
//! let db = rapyer::Client::connect("redis://127.0.0.1/").await?;
//! // The same generated code on a Redis Cluster (or a Valkey cluster), or under Sentinel:
//! let cluster = rapyer::Client::connect_cluster(&["redis://10.0.0.1:7000"]).await?;
//! let sentinel = rapyer::Client::connect_sentinel(&["redis://10.0.0.9:26379"], "mymaster").await?;
//! # let _ = (db, cluster, sentinel); Ok(()) }
//! ```
//!
//! ## Connecting
//!
//! [`Client::builder`] (and [`Client::cluster_builder`], [`Client::sentinel_builder`]) set
//! timeouts, the retry budget, a key namespace, TLS certificates, credentials and durable writes
//! ([`ClientBuilder::wait_replicas`]). Building one does no I/O:
//!
//! ```
//! use std::time::Duration;
//!
//! let builder = rapyer::Client::builder("rediss://app:secret@redis.example.com:6380")
//!     .namespace("app")
//!     .retry_for(Duration::from_secs(5))
//!     .wait_replicas(1, Duration::from_millis(500));
//! # let _ = builder;
//! // The least-privilege ACL rule for an application whose keys live under `app:`:
//! let rule = rapyer::acl_rule("app");
//! assert!(rule.contains("~app:*") && rule.contains("-@dangerous"));
//! ```
//!
//! `connect` opens one connection first and checks the server (version, deployment, eviction
//! policy): what is wrong is an [`Error`] at once, not after a retry loop.
//!
//! ## What is guaranteed
//!
//! - Every write is one server-side step (a Lua function or script, or MULTI/EXEC around one):
//!   it applies whole or not at all, indexes and unique values included.
//! - A command is retried only when a reply proves it did not run (a redirect, a refused
//!   connection, a missing function or script, READONLY); a write whose reply is lost is
//!   [`Error::OutcomeUnknown`], never resent.
//! - Junk in Redis is [`Error::Decode`] naming the key and field, never a panic.
//!
//! ## More
//!
//! The repository's `docs/` directory has the schema language, the storage layout, every field
//! operation with its Redis commands, indexes, transactions and locks, Redis Cluster, and TLS, ACL
//! users and Sentinel.

// Modules form layers; a module only uses modules of the layers below it (a test checks that no
// module cycle exists):
//   1. error, codec, slot, page, addr, reply, script, acl, tls, preflight: no rapyer dependency;
//   2. meta (what a model is), keys (where it is stored), protocol and scripts (the Rust-Lua
//      contract), record (the instance hash and containers as Rust values);
//   3. sentinel, conn (the at-most-once rule), client;
//   4. claims (unique values across slots), ops (field operations, pipelines), stored (whole
//      instances);
//   5. model (the generated-code contract), reindex, migrate, repo, batch;
//   6. index, lock, tx.
mod acl;
mod addr;
mod backoff;
mod batch;
mod bulk;
mod claims;
mod client;
mod codec;
mod conn;
mod error;
mod expiry;
mod index;
mod keys;
mod lock;
mod meta;
mod migrate;
mod model;
mod ops;
mod page;
mod plain_commit;
mod preflight;
mod protocol;
mod record;
mod reference;
mod reindex;
mod reply;
mod repo;
mod script;
mod scripts;
mod sentinel;
mod slot;
mod stored;
mod tls;
mod turns;
mod tx;

pub use acl::acl_rule;
pub use batch::{Batch, Patch};
pub use client::{
    Client, ClientBuilder, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_RETRY_FOR,
    DEFAULT_UNIQUE_LEASE,
};
pub use codec::{AsJson, Codec, CodecError, Element, Plain};
pub use conn::Connection;
pub use error::{Error, Result};
pub use index::{LookupIndex, Score, SortedIndex, UniqueIndex};
pub use lock::{HeldLocks, InstanceGuard, Lock, LockOptions, LockSet, Ticket};
pub use meta::{PkRef, PrimaryKey};
pub use model::Model;
pub use ops::{
    Batched, Direct, FloatField, Group, GroupOutcome, IntField, ListField, MapField, Op,
    OptionalField, Pipeline, Results, SetField, Sink, Slot, SplitResults, ValueField, ZSetField,
};
pub use page::{Cursor, Page};
pub use preflight::ServerInfo;
pub use reference::Ref;
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

/// What generated code and the `rapyer-gen` command build on: model descriptions, records,
/// field handle construction, default values, and the commands on stored data that work from a
/// model description. Not a stable API: use the generated types and [`Repo`] instead.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::{Finite, datetime_default, json_default};
    pub use crate::conn::ClaimFault;
    pub use crate::keys::{Keyspace, escape_pk};
    pub use crate::meta::{
        ContainerKind, ContainerMeta, IndexKind, IndexMeta, ModelMeta, TtlRefresh,
    };
    pub use crate::migrate::{CopyReport, copy};
    pub use crate::ops::{Assign, FieldHandle, Instance, Place, assign};
    pub use crate::record::{Flat, RecordReader, RecordWriter};
    pub use crate::reindex::reindex;
    pub use crate::{__handles as handles, __patch as patch, __record as record};

    // The std names generated code uses, under the one short path it owns (`rt`), so that no
    // schema type (`String`, `Option`) can shadow them and lines stay short.
    pub use core::clone::Clone;
    pub use core::cmp::{Eq, Ord, PartialEq, PartialOrd};
    pub use core::convert::Into;
    pub use core::default::Default;
    pub use core::fmt::{Debug, Display, Formatter};
    pub use core::hash::Hash;
    pub use core::marker::Copy;
    pub use core::ops::Deref;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::Ok;
    pub use std::collections::{BTreeMap, BTreeSet};
    pub use std::string::String;
    pub use std::vec::Vec;

    /// The full text of the field operations script, for `redis-benchmark` ceilings measured
    /// beside rapyer (`tests/src/bin/bench-report.rs`).
    pub fn ops_script_body() -> &'static str {
        crate::scripts::OPS.body()
    }

    /// The field operations library (for `FUNCTION LOAD`) and its function's name, for the
    /// same ceilings as rapyer calls it.
    pub fn ops_library() -> (&'static str, &'static str) {
        crate::scripts::OPS.library()
    }
}

/// The datetime type of `datetime` fields.
pub type DateTime = chrono::DateTime<chrono::Utc>;
/// The type of `uuid` fields.
pub type Uuid = uuid::Uuid;
/// The type of `json` fields.
pub type Json = serde_json::Value;
