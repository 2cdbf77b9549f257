//! Key layout. Everything about one instance shares the hash tag `{<pk>}`, so it lives in one
//! cluster slot and can be changed in one MULTI or one script.
//!
//! | what | key |
//! |---|---|
//! | instance hash | `[ns:]<prefix>:{<pk>}` |
//! | container field `f` | `[ns:]<prefix>:{<pk>}:f` |
//! | registry of live pks | `[ns:]<prefix>:pks` |
//! | sorted index on field `f` | `[ns:]<prefix>:idx:f` (ZSET pk -> value) |
//! | unique index on field `f` | `[ns:]<prefix>:uniq:f` (HASH value -> pk) |
//! | lock `n` of an instance | `[ns:]<prefix>:{<pk>}:lock:n` (STRING token), fencing counter `...:lock:n:fence` |
//! | lookup index on field `f` | `[ns:]<prefix>:lookup:f` (ZSET of `<len>:<value><pk>`, all scores 0) |
//!
//! The pk is escaped so that it cannot end the hash tag early or forge another instance's keys:
//! `%` becomes `%25`, `{` becomes `%7B` and `}` becomes `%7D`. The escaped pk contains no brace,
//! so the text between the first `{` and the next `}` is exactly the escaped pk, and escaping is
//! injective: two different pks never share a key.

use std::borrow::Cow;

use crate::error::{Error, Result};

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

    /// The hash of an instance: `[ns:]<prefix>:{<escaped pk>}`.
    pub fn instance(&self, prefix: &str, pk: &str) -> String {
        format!("{}:{{{}}}", self.base(prefix), escape_pk(pk))
    }

    /// The key of a container field of an instance.
    pub fn container(instance_key: &str, path: &str) -> String {
        format!("{instance_key}:{path}")
    }

    /// The sorted set of a model's live pks (score: expiry in ms, or +inf).
    pub fn registry(&self, prefix: &str) -> String {
        format!("{}:pks", self.base(prefix))
    }

    /// The key of an index on field `path` (every sorted kind shares the `idx` tag).
    pub fn index(&self, prefix: &str, kind: crate::model::IndexKind, path: &str) -> String {
        let tag = match kind {
            crate::model::IndexKind::Unique => "uniq",
            crate::model::IndexKind::Lookup => "lookup",
            _ => "idx",
        };
        format!("{}:{tag}:{path}", self.base(prefix))
    }

    /// The key of lock `name` on the instance whose hash is `instance_key` (same hash tag, so
    /// same cluster slot; never mistaken for data: instances are found through the registry).
    pub fn lock(instance_key: &str, name: &str) -> String {
        format!("{instance_key}:lock:{name}")
    }

    /// What every instance key of a model starts with, up to the escaped pk: `[ns:]<prefix>:{`.
    /// Scripts that find pks in an index build instance keys from it.
    pub fn instance_prefix(&self, prefix: &str) -> String {
        format!("{}:{{", self.base(prefix))
    }
}

/// Escapes a pk for use inside the hash tag (see the module docs).
pub fn escape_pk(pk: &str) -> Cow<'_, str> {
    if !pk.contains(['%', '{', '}']) {
        return Cow::Borrowed(pk);
    }
    let mut out = String::with_capacity(pk.len() + 8);
    for c in pk.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_injective_and_brace_free() {
        let pks = [
            "a",
            "a}",
            "a%7D",
            "{a}",
            "%",
            "%25",
            "a:b",
            "a}:metadata",
            "ü{}",
        ];
        let keys: std::collections::HashSet<String> = pks
            .iter()
            .map(|pk| Keyspace::default().instance("P", pk))
            .collect();
        assert_eq!(keys.len(), pks.len());
        for pk in pks {
            let key = Keyspace::default().instance("P", pk);
            let tag = &key[key.find('{').unwrap() + 1..];
            assert!(!tag[..tag.len() - 1].contains(['{', '}']), "{key}");
            assert!(key.ends_with('}'));
        }
    }

    #[test]
    fn namespace_is_validated_and_prefixed() {
        assert!(Keyspace::new(Some("a{b".into())).is_err());
        let ks = Keyspace::new(Some("test1".into())).unwrap();
        assert_eq!(ks.instance("Player", "x"), "test1:Player:{x}");
        assert_eq!(ks.registry("Player"), "test1:Player:pks");
    }
}
