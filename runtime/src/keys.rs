//! Key layout: the same on one server and on a cluster.
//!
//! A model's instances are spread over `buckets` hash tags (the schema's `buckets:`, 1 by
//! default); a pk's bucket is `crc16(pk) mod buckets`, so it never changes. Everything about one
//! instance, and every model-wide entry that must change with it (its registry entry, its sorted
//! and lookup index entries), carries the tag of its bucket: on a cluster they share one hash
//! slot, so every write of an instance is one atomic script.
//!
//! | what | key |
//! |---|---|
//! | instance hash | `[ns:]<prefix>:{<tag>}:<pk>` |
//! | container field `f` | `[ns:]<prefix>:{<tag>}:<pk>:f` |
//! | lock `n` of an instance | `[ns:]<prefix>:{<tag>}:<pk>:lock:n` (STRING token); the instance's fence hash `...:lock:` (HASH name -> last fencing number), deleted with the instance |
//! | registry of live pks, per bucket | `[ns:]<prefix>:pks:{<tag>}` (ZSET pk -> expiry) |
//! | index entries of expiring instances, per bucket (a model with a TTL and an index) | `[ns:]<prefix>:memo:{<tag>}` (HASH pk -> msgpack) |
//! | sorted index on field `f`, per bucket | `[ns:]<prefix>:idx:f:{<tag>}` (ZSET pk -> value) |
//! | lookup index on field `f`, per bucket | `[ns:]<prefix>:lookup:f:{<tag>}` (ZSET of `<len>:<value><pk>`, all scores 0) |
//! | unique index on field `f` | `[ns:]<prefix>:uniq:f:{<tag>}` (HASH value -> pk), one per model |
//!
//! Tags: `B` is a power of two, and bucket `b` of `B` is given the hash slot
//! `(crc16(slot_group) + (2b + 1) * 8192 / B) mod 16384` (the slot group is the prefix unless
//! the schema names one): evenly spaced, so the buckets spread over the masters of a cluster;
//! shifted per model, so that models do not pile onto the same slots (models of one slot group
//! with the same bucket count share them, so their instances can change together);
//! and odd multiples of `8192 / B`, so that two bucket counts never share a slot (data written
//! under one count is never half-seen under another). The tag is a short text that hashes to
//! that slot ([`slot::tag`](crate::slot)). A unique index lives in bucket 0's slot when the model has
//! one bucket (so unique checks stay in the instance's script), and in a slot of its own
//! otherwise.
//!
//! The pk is escaped so that it cannot forge another instance's keys: `%` becomes `%25` and `:`
//! becomes `%3A`. The escaped pk holds no `:`, so what follows it (`:f`, `:lock:n`) is never
//! part of another pk, and escaping is injective: two different pks never share a key. The
//! namespace and the prefix hold no braces, so the first `{...}` of every key is rapyer's tag.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::meta::{IndexKind, IndexMeta, ModelMeta};
use crate::slot;

/// Builds every key rapyer uses, under an optional namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyspace {
    namespace: Option<String>,
}

impl Keyspace {
    /// A keyspace whose keys all start with `namespace:`. The namespace may not contain braces.
    pub fn new(namespace: Option<String>) -> Result<Self> {
        if let Some(ns) = &namespace
            && (ns.is_empty() || ns.contains(['{', '}']))
        {
            return Err(Error::Config(format!(
                "namespace {ns:?} must be non-empty and contain no braces"
            )));
        }
        Ok(Keyspace { namespace })
    }

    fn base(&self, prefix: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}:{prefix}"),
            None => prefix.to_string(),
        }
    }

    /// The bucket of `pk` in `meta`'s model.
    pub fn bucket_of(meta: &ModelMeta, pk: &str) -> u16 {
        match meta.buckets {
            0 | 1 => 0,
            n => slot::crc16(pk.as_bytes()) % n,
        }
    }

    /// The hash tag of bucket `bucket` of `meta`'s model.
    fn tag(meta: &ModelMeta, bucket: u16) -> &'static str {
        slot::tag(bucket_slot(meta, bucket))
    }

    /// The hash of an instance: `[ns:]<prefix>:{<tag>}:<escaped pk>`.
    pub fn instance(&self, meta: &ModelMeta, pk: &str) -> String {
        let tag = Self::tag(meta, Self::bucket_of(meta, pk));
        format!("{}:{{{tag}}}:{}", self.base(meta.prefix), escape_pk(pk))
    }

    /// The key of a container field of an instance.
    pub fn container(instance_key: &str, path: &str) -> String {
        format!("{instance_key}:{path}")
    }

    /// The sorted set of the live pks of bucket `bucket` (score: expiry in ms, or +inf).
    pub fn registry(&self, meta: &ModelMeta, bucket: u16) -> String {
        let tag = Self::tag(meta, bucket);
        format!("{}:pks:{{{tag}}}", self.base(meta.prefix))
    }

    /// The memo of bucket `bucket` of a model whose instances expire and are indexed: the index
    /// entries of each instance with an expiry (HASH pk -> msgpack; see `lua/index.lua`), so
    /// that they can be removed once Redis has expired the instance.
    pub fn memo(&self, meta: &ModelMeta, bucket: u16) -> String {
        let tag = Self::tag(meta, bucket);
        format!("{}:memo:{{{tag}}}", self.base(meta.prefix))
    }

    /// The memo of bucket `bucket`, for a model that has one.
    pub(crate) fn memo_of(&self, meta: &ModelMeta, bucket: u16) -> Option<String> {
        meta.remembers_index_entries()
            .then(|| self.memo(meta, bucket))
    }

    /// The key of the index of `kind` on field `path` for bucket `bucket` (a unique index has
    /// one key for all buckets: `bucket` is ignored).
    pub fn index(&self, meta: &ModelMeta, kind: IndexKind, path: &str, bucket: u16) -> String {
        let base = self.base(meta.prefix);
        match kind {
            IndexKind::Unique => {
                let tag = slot::tag(unique_slot(meta, path));
                format!("{base}:uniq:{path}:{{{tag}}}")
            }
            IndexKind::Lookup => format!("{base}:lookup:{path}:{{{}}}", Self::tag(meta, bucket)),
            _ => format!("{base}:idx:{path}:{{{}}}", Self::tag(meta, bucket)),
        }
    }

    /// The key of the index `ix` for the instances of `bucket` (see [`index`](Self::index)); a
    /// partitioned sorted index has a key of its own kind, `<prefix>:part:<path>:{tag}`, holding
    /// every partition of the bucket.
    pub fn index_key(&self, meta: &ModelMeta, ix: &IndexMeta, bucket: u16) -> String {
        match ix.partition {
            None => self.index(meta, ix.kind, ix.path, bucket),
            Some(_) => format!(
                "{}:part:{}:{{{}}}",
                self.base(meta.prefix),
                ix.path,
                Self::tag(meta, bucket)
            ),
        }
    }

    /// The key of lock `name` on the instance whose hash is `instance_key` (same hash tag, so
    /// same cluster slot; never mistaken for data: instances are found through the registry).
    pub fn lock(instance_key: &str, name: &str) -> String {
        format!("{instance_key}:lock:{name}")
    }

    /// The fence hash of the instance whose hash is `instance_key`: the last fencing number of
    /// each lock name taken on it (HASH name -> number). It is the key of the lock with the
    /// empty name, which no lock may have; `delete_instance.lua` finds the instance's lock keys
    /// from its field names (the same format as [`lock`](Self::lock)).
    pub fn fences(instance_key: &str) -> String {
        Self::lock(instance_key, "")
    }
}

/// The hash slot of bucket `bucket` of `meta`'s model.
pub(crate) fn bucket_slot(meta: &ModelMeta, bucket: u16) -> u16 {
    let slots = u32::from(slot::SLOTS);
    let buckets = u32::from(meta.buckets.max(1));
    let offset = (2 * u32::from(bucket) + 1) * (slots / 2) / buckets;
    ((u32::from(slot::crc16(meta.slot_group.as_bytes())) + offset) % slots) as u16
}

/// The hash slot of the unique index on `path`.
fn unique_slot(meta: &ModelMeta, path: &str) -> u16 {
    if meta.buckets <= 1 {
        return bucket_slot(meta, 0);
    }
    slot::crc16(format!("{}:uniq:{path}", meta.prefix).as_bytes()) % slot::SLOTS
}

/// Escapes a pk for its keys (see the module docs).
pub fn escape_pk(pk: &str) -> Cow<'_, str> {
    if !pk.contains(['%', ':']) {
        return Cow::Borrowed(pk);
    }
    let mut out = String::with_capacity(pk.len() + 8);
    for c in pk.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(prefix: &'static str, buckets: u16) -> ModelMeta {
        ModelMeta {
            name: "P",
            prefix,
            schema_version: 1,
            ttl_seconds: None,
            ttl_refresh: crate::meta::TtlRefresh::Never,
            buckets,
            slot_group: prefix,
            containers: &[],
            indexes: &[],
            renames: &[],
        }
    }

    #[test]
    fn escaping_is_injective_and_keeps_the_tag_first() {
        let pks = [
            "a",
            "a}",
            "a%7D",
            "{a}",
            "%",
            "%25",
            "a:b",
            "a%3Ab",
            "a:metadata",
            "ü{}",
            "x:lock:n",
        ];
        for buckets in [1, 16] {
            let m = meta("P", buckets);
            let keys: std::collections::HashSet<String> = pks
                .iter()
                .map(|pk| Keyspace::default().instance(&m, pk))
                .collect();
            assert_eq!(keys.len(), pks.len());
            for pk in pks {
                let key = Keyspace::default().instance(&m, pk);
                let after_tag = &key[key.find('}').unwrap() + 1..];
                assert!(after_tag.starts_with(':'), "{key}");
                assert!(!after_tag[1..].contains(':'), "{key}");
                // Every key of the instance shares its slot with its bucket's model-wide keys.
                let bucket = Keyspace::bucket_of(&m, pk);
                let registry = Keyspace::default().registry(&m, bucket);
                assert_eq!(slot::slot(key.as_bytes()), slot::slot(registry.as_bytes()));
            }
        }
    }

    #[test]
    fn buckets_spread_evenly_and_stay_put() {
        let m = meta("Player", 16);
        let slots: Vec<u16> = (0..16).map(|b| bucket_slot(&m, b)).collect();
        for w in 0..16usize {
            let next = slots[(w + 1) % 16];
            assert_eq!(
                (next + slot::SLOTS - slots[w]) % slot::SLOTS,
                1024,
                "{slots:?}"
            );
        }
        // Two bucket counts never share a slot.
        let mut seen = std::collections::HashSet::new();
        for buckets in [1u16, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] {
            let m = meta("Player", buckets);
            for b in 0..buckets {
                assert!(seen.insert(bucket_slot(&m, b)), "{buckets}/{b}");
            }
        }
        // The layout is data on disk: these values may never change.
        assert_eq!(Keyspace::bucket_of(&m, "alice"), slot::crc16(b"alice") % 16);
        let base = slot::crc16(b"Player") % slot::SLOTS;
        assert_eq!(
            Keyspace::default().instance(&meta("Player", 1), "alice"),
            format!(
                "Player:{{{}}}:alice",
                slot::tag((base + 8192) % slot::SLOTS)
            )
        );
        assert_eq!(bucket_slot(&m, 0), (base + 512) % slot::SLOTS);
        let ks = Keyspace::new(Some("test1".into())).unwrap();
        let key = ks.instance(&m, "x");
        assert!(key.starts_with("test1:Player:{"), "{key}");
        assert!(ks.registry(&m, 3).starts_with("test1:Player:pks:{"));
    }

    #[test]
    fn a_unique_index_shares_the_slot_of_a_single_bucket() {
        let one = meta("Guild", 1);
        let many = meta("Guild", 8);
        let ks = Keyspace::default();
        let uniq = ks.index(&one, IndexKind::Unique, "name", 0);
        assert_eq!(
            slot::slot(uniq.as_bytes()),
            slot::slot(ks.instance(&one, "g").as_bytes())
        );
        // With buckets, one key for every bucket.
        assert_eq!(
            ks.index(&many, IndexKind::Unique, "name", 0),
            ks.index(&many, IndexKind::Unique, "name", 5)
        );
        assert_ne!(
            ks.index(&many, IndexKind::SortedInt, "s", 0),
            ks.index(&many, IndexKind::SortedInt, "s", 5)
        );
    }

    #[test]
    fn namespace_is_validated() {
        assert!(Keyspace::new(Some("a{b".into())).is_err());
        assert!(Keyspace::new(Some(String::new())).is_err());
    }
}
