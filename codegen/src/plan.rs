//! The storage plan: how each model is laid out in Redis, decided once from the checked schema.
//!
//! A model's fields, with the fields of nested structs flattened into the instance hash under
//! `field.` prefixes, become a list of [`StoredPath`]s: where each value lives, how it is encoded,
//! which index follows it and where it was stored before a rename. Checking (accessor clashes),
//! emitting (the generated `ModelMeta`, record code and handles), the runtime's description of a
//! model for the CLI and schema reviews all read this plan; the walk over nested structs exists
//! only here.

use crate::ir::{self, Field, IndexKind, Model, Schema, Type};

/// How the value at one path is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A hash field holding one scalar (its codec is chosen by its type).
    Scalar,
    /// A hash field that may be absent (`optional<T>`); the value is JSON when `json`.
    Optional {
        /// Stored as JSON (an optional struct).
        json: bool,
    },
    /// A struct whose fields are flattened into the hash under `<path>.`.
    Struct {
        /// The struct's name.
        name: String,
    },
    /// A LIST key of its own; elements are JSON when `json`.
    List {
        /// Elements stored as JSON (structs, nested containers).
        json: bool,
    },
    /// A SET key of its own.
    Set,
    /// A ZSET key of its own (members and scores).
    ZSet,
    /// A HASH key of its own; values are JSON when `json`.
    Map {
        /// Values stored as JSON.
        json: bool,
    },
}

impl Storage {
    /// How a field of this type is stored.
    pub fn of(ty: &Type) -> Storage {
        match ty {
            Type::Struct(name) => Storage::Struct { name: name.clone() },
            Type::Optional(inner) => Storage::Optional {
                json: matches!(**inner, Type::Struct(_)),
            },
            Type::List(e) => Storage::List {
                json: !is_scalar(e),
            },
            Type::Set(_) => Storage::Set,
            Type::ZSet(_) => Storage::ZSet,
            Type::Map(e) => Storage::Map {
                json: !is_scalar(e),
            },
            _ => Storage::Scalar,
        }
    }

    /// The kind of key of its own, for containers.
    pub fn container(&self) -> Option<ContainerKind> {
        match self {
            Storage::List { .. } => Some(ContainerKind::List),
            Storage::Set => Some(ContainerKind::Set),
            Storage::ZSet => Some(ContainerKind::ZSet),
            Storage::Map { .. } => Some(ContainerKind::Map),
            _ => None,
        }
    }
}

/// Element types stored with their scalar codec; everything else is stored as JSON.
pub fn is_scalar(t: &Type) -> bool {
    matches!(
        t,
        Type::Bool
            | Type::Int
            | Type::Float
            | Type::String
            | Type::Bytes
            | Type::DateTime
            | Type::Uuid
            | Type::Json
            | Type::Enum(_)
            | Type::Ref(_)
    )
}

/// The kinds of container key, as the runtime names them (`rapyer::ContainerKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// A LIST.
    List,
    /// A SET.
    Set,
    /// A HASH.
    Map,
    /// A ZSET.
    ZSet,
}

impl ContainerKind {
    /// The runtime's variant name.
    pub fn runtime_name(self) -> &'static str {
        match self {
            ContainerKind::List => "List",
            ContainerKind::Set => "Set",
            ContainerKind::Map => "Map",
            ContainerKind::ZSet => "ZSet",
        }
    }
}

/// The kinds of index, as the runtime stores them (`rapyer::IndexKind`): a sorted index's score
/// depends on the value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexStorage {
    /// ZSET scored by an integer.
    SortedInt,
    /// ZSET scored by a float.
    SortedFloat,
    /// ZSET scored by a datetime.
    SortedDateTime,
    /// HASH of value -> pk.
    Unique,
    /// Instances by value.
    Lookup,
}

impl IndexStorage {
    /// The runtime's variant name.
    pub fn runtime_name(self) -> &'static str {
        match self {
            IndexStorage::SortedInt => "SortedInt",
            IndexStorage::SortedFloat => "SortedFloat",
            IndexStorage::SortedDateTime => "SortedDateTime",
            IndexStorage::Unique => "Unique",
            IndexStorage::Lookup => "Lookup",
        }
    }
}

/// An index on one stored path, and the repository methods that query it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPlan {
    /// The index kind declared in the schema.
    pub kind: IndexKind,
    /// How the runtime stores it.
    pub storage: IndexStorage,
    /// The indexed value's type (`optional` removed).
    pub value_ty: Type,
    /// `by_<path>`: the index's query handle.
    pub accessor: String,
    /// `get_by_<path>`, for unique indexes.
    pub get_by: Option<String>,
    /// For a partitioned sorted index: the partition field's path and type.
    pub partition: Option<(String, Type)>,
}

/// One stored path of a model.
#[derive(Debug, Clone)]
pub struct StoredPath<'s> {
    /// The path: the field name, or `struct_field.field` inside nested structs.
    pub path: String,
    /// The schema field.
    pub field: &'s Field,
    /// How many structs it is nested in (0: a field of the model).
    pub depth: usize,
    /// How it is stored.
    pub storage: Storage,
    /// The index that follows it.
    pub index: Option<IndexPlan>,
    /// Where instances written before a `renamed_from` keep it.
    pub old_path: Option<String>,
}

/// The storage plan of one model.
#[derive(Debug, Clone)]
pub struct ModelPlan<'s> {
    /// The model.
    pub model: &'s Model,
    /// The key field.
    pub pk: &'s Field,
    /// Every stored path, depth first in schema order: a struct field comes before its fields.
    pub paths: Vec<StoredPath<'s>>,
}

impl<'s> ModelPlan<'s> {
    /// Plans `model` of `schema` (a checked schema: every struct it names exists).
    pub fn new(schema: &'s Schema, model: &'s Model) -> ModelPlan<'s> {
        let pk = model
            .fields
            .iter()
            .find(|f| f.name == model.key.field())
            .expect("a checked model has its key field");
        let mut paths = Vec::new();
        walk(schema, &model.fields, "", 0, &mut paths);
        ModelPlan { model, pk, paths }
    }

    /// Every indexed path with its index.
    pub fn indexes(&self) -> impl Iterator<Item = (&StoredPath<'s>, &IndexPlan)> {
        self.paths
            .iter()
            .filter_map(|p| Some((p, p.index.as_ref()?)))
    }

    /// Every container path with its kind.
    pub fn containers(&self) -> impl Iterator<Item = (&StoredPath<'s>, ContainerKind)> {
        self.paths
            .iter()
            .filter_map(|p| Some((p, p.storage.container()?)))
    }

    /// Every renamed path, as (new path, old path).
    pub fn renames(&self) -> impl Iterator<Item = (&str, &str)> {
        self.paths
            .iter()
            .filter_map(|p| Some((p.path.as_str(), p.old_path.as_deref()?)))
    }
}

/// The one walk over nested structs. The depth bound stops a (rejected) struct cycle.
fn walk<'s>(
    schema: &'s Schema,
    fields: &'s [Field],
    prefix: &str,
    depth: usize,
    out: &mut Vec<StoredPath<'s>>,
) {
    if depth > schema.structs.len() {
        return;
    }
    for field in fields {
        let path = format!("{prefix}{}", field.name);
        let storage = Storage::of(&field.ty);
        // A partition is a field of the model itself (the checker refuses one in a struct).
        let partition = field.partition_by.as_ref().and_then(|by| {
            let target = fields.iter().find(|f| f.name == *by && depth == 0)?;
            Some((target.name.clone(), target.ty.clone()))
        });
        out.push(StoredPath {
            index: field
                .index
                .map(|kind| index_plan(&path, kind, &field.ty, partition)),
            old_path: field
                .renamed_from
                .as_ref()
                .map(|old| format!("{prefix}{old}")),
            path: path.clone(),
            field,
            depth,
            storage,
        });
        if let Type::Struct(name) = &field.ty
            && let Some(s) = schema.structs.iter().find(|s| s.name == *name)
        {
            walk(schema, &s.fields, &format!("{path}."), depth + 1, out);
        }
    }
}

fn index_plan(
    path: &str,
    kind: IndexKind,
    ty: &Type,
    partition: Option<(String, Type)>,
) -> IndexPlan {
    let value_ty = match ty {
        Type::Optional(inner) => inner.as_ref().clone(),
        t => t.clone(),
    };
    let storage = match (kind, &value_ty) {
        (IndexKind::Sorted, Type::Int) => IndexStorage::SortedInt,
        (IndexKind::Sorted, Type::Float) => IndexStorage::SortedFloat,
        (IndexKind::Sorted, _) => IndexStorage::SortedDateTime,
        (IndexKind::Unique, _) => IndexStorage::Unique,
        (IndexKind::Lookup, _) => IndexStorage::Lookup,
    };
    let base = path.replace('.', "_");
    IndexPlan {
        kind,
        storage,
        value_ty,
        accessor: format!("by_{base}"),
        get_by: (kind == IndexKind::Unique).then(|| format!("get_by_{base}")),
        partition,
    }
}

/// Whether a field has a value without being given one: a default, `None`, an empty container,
/// or a struct whose fields all do. Such a field needs no constructor argument, and an instance
/// stored without it still reads.
pub fn fills_itself(schema: &Schema, field: &Field) -> bool {
    fills(schema, field, 0)
}

/// The hash fields a struct writes, relative to its prefix (a nested struct's as `inner.n`), or
/// `None` when it holds a container somewhere (it is then not read or written whole).
pub fn struct_leaves(schema: &Schema, name: &str) -> Option<Vec<String>> {
    fn go(schema: &Schema, name: &str, prefix: &str, depth: usize, out: &mut Vec<String>) -> bool {
        let Some(s) = schema.structs.iter().find(|s| s.name == name) else {
            return false;
        };
        depth <= schema.structs.len()
            && s.fields.iter().all(|f| match Storage::of(&f.ty) {
                Storage::Struct { name } => go(
                    schema,
                    &name,
                    &format!("{prefix}{}.", f.name),
                    depth + 1,
                    out,
                ),
                s if s.container().is_some() => false,
                _ => {
                    out.push(format!("{prefix}{}", f.name));
                    true
                }
            })
    }
    let mut out = Vec::new();
    go(schema, name, "", 0, &mut out).then_some(out)
}

/// Whether every field of the struct `name` [fills itself](fills_itself).
pub fn struct_defaultable(schema: &Schema, name: &str) -> bool {
    struct_fills(schema, name, 0)
}

fn fills(schema: &Schema, field: &Field, depth: usize) -> bool {
    field.default.is_some()
        || match &field.ty {
            Type::Optional(_) | Type::List(_) | Type::Set(_) | Type::Map(_) | Type::ZSet(_) => true,
            Type::Struct(n) => struct_fills(schema, n, depth + 1),
            _ => false,
        }
}

/// The depth bound stops a (rejected) struct cycle.
fn struct_fills(schema: &Schema, name: &str, depth: usize) -> bool {
    depth <= schema.structs.len()
        && schema
            .structs
            .iter()
            .find(|s| s.name == name)
            .is_some_and(|s| s.fields.iter().all(|f| fills(schema, f, depth)))
}

/// A default value as schema text (messages, docs and reviews): RFC 3339 datetimes, hyphenated
/// uuids, variant names, compact JSON.
pub fn default_text(value: &ir::Value) -> String {
    use ir::Value;
    match value {
        Value::None => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) => format!("{s:?}"),
        Value::DateTime { secs, nanos } => chrono::DateTime::from_timestamp(*secs, *nanos)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_else(|| format!("{secs}.{nanos:09}s")),
        Value::Uuid(u) => uuid::Uuid::from_u128(*u).to_string(),
        Value::Variant { name, .. } => name.clone(),
        Value::Json(j) => j.clone(),
    }
}

/// Whether a value of `ty` may hold a float, directly or inside containers and structs (the
/// only values whose finiteness must be checked before they are stored as JSON).
pub fn may_hold_float(schema: &Schema, ty: &Type) -> bool {
    fn go(schema: &Schema, ty: &Type, depth: usize) -> bool {
        match ty {
            Type::Float => true,
            Type::Optional(t) | Type::List(t) | Type::Set(t) | Type::Map(t) => go(schema, t, depth),
            Type::Struct(n) => {
                depth <= schema.structs.len()
                    && schema
                        .structs
                        .iter()
                        .find(|s| s.name == *n)
                        .is_some_and(|s| s.fields.iter().any(|f| go(schema, &f.ty, depth + 1)))
            }
            _ => false,
        }
    }
    go(schema, ty, 0)
}
