//! Static facts about a model, written by the generator and read by every layer: key prefix,
//! layout, containers, indexes, renames ([`ModelMeta`]); and the primary key types.

use std::borrow::Cow;
use std::fmt::Debug;

use crate::codec::CodecError;
use crate::error::Result;

/// What kind of Redis value a container field lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `list<T>`: a LIST.
    List,
    /// `set<T>`: a SET.
    Set,
    /// `map<string, T>`: a HASH.
    Map,
    /// `zset<T>`: a sorted set (ZSET), member -> score.
    ZSet,
}

/// A container field, flattened path included (`stats.history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerMeta {
    /// Field path, also the key suffix.
    pub path: &'static str,
    /// Its Redis type.
    pub kind: ContainerKind,
}

impl ContainerMeta {
    /// The container at `path`.
    pub const fn new(path: &'static str, kind: ContainerKind) -> ContainerMeta {
        ContainerMeta { path, kind }
    }
}

/// What re-arms an expiring instance's TTL besides whole-instance writes (schema:
/// `ttl: { after: 30m, refresh: write }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlRefresh {
    /// Only whole-instance writes (insert, save) set the TTL.
    Never,
    /// Every write of the instance (field operations, pipelines, `update`) re-arms it, in the
    /// same atomic step.
    OnWrite,
    /// Every write and every read of the instance re-arms it.
    OnRead,
}

/// The kind of an index, with what a sorted index orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// Sorted by an `int` field (scores are doubles: exact up to 2^53 in magnitude).
    SortedInt,
    /// Sorted by a `float` field.
    SortedFloat,
    /// Sorted by a `datetime` field, at microsecond resolution.
    SortedDateTime,
    /// One instance per value.
    Unique,
    /// Every instance with a value, paged.
    Lookup,
}

/// An index on one field (a nested struct leaf has its flattened path, `stats.wins`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMeta {
    /// Field path: the hash field the index follows.
    pub path: &'static str,
    /// Its kind.
    pub kind: IndexKind,
    /// For a sorted index partitioned by another field (`partition_by`), that field's path: the
    /// index then orders the instances of each value of it apart.
    pub partition: Option<&'static str>,
}

impl IndexMeta {
    /// The index on `path`.
    pub const fn new(path: &'static str, kind: IndexKind) -> IndexMeta {
        IndexMeta {
            path,
            kind,
            partition: None,
        }
    }

    /// The sorted index on `path`, partitioned by the field at `partition`.
    pub const fn partitioned(
        path: &'static str,
        kind: IndexKind,
        partition: &'static str,
    ) -> IndexMeta {
        IndexMeta {
            path,
            kind,
            partition: Some(partition),
        }
    }

    /// True when a write of the field at `path` can move this index's entry.
    pub fn follows(&self, path: &str) -> bool {
        self.path == path || self.partition == Some(path)
    }
}

/// Static facts about a model, written by the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelMeta {
    /// The model's schema name.
    pub name: &'static str,
    /// Key prefix.
    pub prefix: &'static str,
    /// The schema version that generated this code; recorded on every instance written.
    pub schema_version: u32,
    /// TTL of every instance, in seconds, reset by each whole-instance write.
    pub ttl_seconds: Option<u64>,
    /// What else re-arms the TTL.
    pub ttl_refresh: TtlRefresh,
    /// How many hash tags the instances are spread over (see [`Keyspace`](crate::keys::Keyspace)):
    /// 1 keeps the whole model in one cluster slot.
    pub buckets: u16,
    /// Models of one slot group share hash slots, bucket by bucket, so that their instances
    /// can change together in one atomic step on a cluster (the prefix by default).
    pub slot_group: &'static str,
    /// Every container field, in a fixed order.
    pub containers: &'static [ContainerMeta],
    /// Every index, kept in step with its field by every write.
    pub indexes: &'static [IndexMeta],
    /// Fields renamed with `renamed_from`, as (new path, old path): instances written before the
    /// rename are read from the old name, and moved to the new one by the first operation on it.
    pub renames: &'static [(&'static str, &'static str)],
}

impl ModelMeta {
    /// The model `name` written by schema `version`, with every other fact at its default: the
    /// name as key prefix and slot group, one bucket, no TTL, no container, index or rename.
    /// Generated code states only what differs from it.
    pub const fn new(name: &'static str, schema_version: u32) -> ModelMeta {
        ModelMeta {
            name,
            prefix: name,
            schema_version,
            ttl_seconds: None,
            ttl_refresh: TtlRefresh::Never,
            buckets: 1,
            slot_group: name,
            containers: &[],
            indexes: &[],
            renames: &[],
        }
    }

    /// True when instances can expire and have index entries, which the scripts then remember
    /// in a memo per bucket ([`Keyspace::memo`](crate::keys::Keyspace::memo)), so that expired
    /// instances leave no entries behind.
    pub fn remembers_index_entries(&self) -> bool {
        self.ttl_seconds.is_some() && !self.indexes.is_empty()
    }

    /// The old name of the field at `path`, if it was renamed.
    pub fn renamed_from(&self, path: &str) -> Option<&'static str> {
        self.renames
            .iter()
            .find(|(new, _)| *new == path)
            .map(|(_, old)| *old)
    }

    /// The index on the field at `path`, if any, unless it is partitioned (see
    /// [`partitioned_by`](Self::partitioned_by)).
    pub fn index_on(&self, path: &str) -> Option<&'static IndexMeta> {
        self.indexes
            .iter()
            .find(|i| i.path == path && i.partition.is_none())
    }

    /// The partitioned indexes whose entry a write of the field at `path` can move: those on
    /// it, and those partitioned by it.
    pub fn partitioned_by<'a>(
        &self,
        path: &'a str,
    ) -> impl Iterator<Item = &'static IndexMeta> + 'a {
        self.indexes
            .iter()
            .filter(move |i| i.partition.is_some() && i.follows(path))
    }
}

/// A primary key type: `String`, `i64` or `Uuid`.
pub trait PrimaryKey: Clone + Debug + Send + Sync + 'static {
    /// Parses a pk read back from the registry of pks.
    fn from_pk_text(text: &str) -> Result<Self, CodecError>;
}

/// Anything that can be used to look an instance up: the pk type itself, or `str` for `String`
/// keys so that `repo.get("alice")` works.
pub trait PkRef: Debug + Sync {
    /// The key as text, as it appears (escaped) in Redis keys and in the registry.
    fn pk_text(&self) -> Cow<'_, str>;
}

impl PkRef for str {
    fn pk_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}
impl PkRef for String {
    fn pk_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}
impl PkRef for i64 {
    fn pk_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}
impl PkRef for uuid::Uuid {
    fn pk_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.hyphenated().to_string())
    }
}

impl PrimaryKey for String {
    fn from_pk_text(text: &str) -> Result<Self, CodecError> {
        Ok(text.to_string())
    }
}
impl PrimaryKey for i64 {
    fn from_pk_text(text: &str) -> Result<Self, CodecError> {
        <i64 as crate::codec::Codec>::decode(text.as_bytes())
    }
}
impl PrimaryKey for uuid::Uuid {
    fn from_pk_text(text: &str) -> Result<Self, CodecError> {
        <uuid::Uuid as crate::codec::Codec>::decode(text.as_bytes())
    }
}
