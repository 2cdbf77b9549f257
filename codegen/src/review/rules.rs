//! The catalogue of review rules. IDs are stable: tools and CI configurations refer to them.
//! `docs/review.md` describes each with an example and its verdict in each mode.

/// One kind of schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable ID, `RS` and three digits.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// What it means for stored data.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($const:ident = $id:literal, $name:literal, $summary:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $const: Rule = Rule { id: $id, name: $name, summary: $summary };
        )*
        /// Every rule, in ID order.
        pub const ALL: &[Rule] = &[$($const),*];
    };
}

rules! {
    MODEL_ADDED = "RS001", "model-added", "A new model: nothing stored is affected.";
    MODEL_REMOVED = "RS002", "model-removed", "A model is gone: its stored instances are orphaned (no code reads them any more).";
    STRUCT_ADDED = "RS003", "struct-added", "A new struct: nothing stored is affected until a field uses it.";
    STRUCT_REMOVED = "RS004", "struct-removed", "A struct is gone: fields that used it are reported on their own.";
    ENUM_ADDED = "RS005", "enum-added", "A new enum: nothing stored is affected until a field uses it.";
    ENUM_REMOVED = "RS006", "enum-removed", "An enum is gone: fields that used it are reported on their own.";
    FIELD_ADDED = "RS010", "field-added", "A new field: instances written before lack it, so new code needs a default (or an optional, container or defaultable struct) to read them.";
    FIELD_REMOVED = "RS011", "field-removed", "A field is gone: new code ignores it in stored data; old code reading new data needs it to have had a default.";
    FIELD_TYPE_CHANGED = "RS012", "field-type-changed", "A field's type changed: only the widenings the codecs support (int to float, scalars to string) read old data.";
    FIELD_MADE_REQUIRED = "RS013", "field-made-required", "`optional<T>` became `T`: instances without a value cannot be read unless the field has a default.";
    FIELD_MADE_OPTIONAL = "RS014", "field-made-optional", "`T` became `optional<T>`: new code reads old data; old code fails on instances without a value unless it had a default.";
    DEFAULT_ADDED = "RS015", "default-added", "A default was added: instances lacking the field now read it.";
    DEFAULT_REMOVED = "RS016", "default-removed", "A default was removed: instances lacking the field (written before it existed) can no longer be read.";
    DEFAULT_CHANGED = "RS017", "default-changed", "A default changed: instances lacking the field read another value than before.";
    VARIANT_ADDED = "RS020", "enum-variant-added", "A new enum variant: old code cannot decode it when new code stores it.";
    VARIANT_REMOVED = "RS021", "enum-variant-removed", "An enum variant is gone: stored instances holding it can no longer be read.";
    KEY_CHANGED = "RS030", "key-changed", "The primary key changed: existing instances are stored under keys the new code never builds.";
    PREFIX_CHANGED = "RS031", "prefix-changed", "The key prefix changed (a model rename without a pinned `prefix` too): existing data is unreachable.";
    LAYOUT_CHANGED = "RS032", "layout-changed", "The bucket count or the slot group changed: instances and index entries are stored under other keys (other cluster slots); existing data is unreachable until moved.";
    REF_TARGET_KEY_CHANGED = "RS033", "ref-target-key-changed", "A model that fields refer to (`ref<Model>`) changed its key: stored references hold keys of the old kind, which the new code may not parse and finds no instance under.";
    INDEX_ADDED = "RS040", "index-added", "A new index: it is empty until `reindex` fills it from existing data.";
    INDEX_REMOVED = "RS041", "index-removed", "An index is gone: its Redis key stays until deleted.";
    INDEX_CHANGED = "RS042", "index-changed", "An index changed kind: the old index key stays, the new one needs `reindex`.";
    TTL_CHANGED = "RS050", "ttl-changed", "The TTL changed: existing instances keep their expiry until they are saved again.";
    FIELD_RENAMED = "RS060", "field-renamed", "A field renamed with `renamed_from`: new code reads the old name; old code does not see the new one.";
    POSSIBLE_RENAME = "RS061", "undeclared-rename", "A field removed and one of the same type added: if it is a rename, declare `renamed_from` or the stored values are lost.";
    RENAMED_INDEX = "RS062", "renamed-index", "An indexed field renamed: its index is kept under the new name, empty until `reindex` (which reads the old name) fills it.";
    VERSION_NOT_BUMPED = "RS070", "version-not-bumped", "An incompatible change without a `version` bump.";
    VERSION_BUMP_WITHOUT_CHANGE = "RS071", "version-bump-without-change", "The `version` changed but the schema did not.";
    VERSION_DECREASED = "RS072", "version-decreased", "The `version` went down.";
}
