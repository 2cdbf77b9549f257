//! The view model handed to templates: the IR with every decision about generated code already
//! made (how each field is stored, what the constructor takes), so templates only lay out code.

use serde::Serialize;

use crate::check::{module_name, version_order};
use crate::ir::{self, Key, Schema, Type, Value};

/// Everything one render needs.
#[derive(Serialize)]
pub struct SchemaView {
    pub generator: String,
    /// Re-exports of `mod.rs`, in rustfmt's order.
    pub exports: Vec<ExportView>,
    pub version: u32,
    pub enums: Vec<EnumView>,
    pub structs: Vec<StructView>,
    pub models: Vec<ModelView>,
}

#[derive(Serialize)]
pub struct ExportView {
    pub module: String,
    pub items: Vec<String>,
}

#[derive(Serialize)]
pub struct EnumView {
    pub name: String,
    pub module: String,
    pub file: String,
    /// What a decode error says was expected.
    pub expected: String,
    pub doc: Vec<String>,
    pub variants: Vec<VariantView>,
}

#[derive(Serialize)]
pub struct VariantView {
    pub name: String,
    pub doc: String,
    pub rust_name: String,
}

#[derive(Serialize)]
pub struct StructView {
    pub name: String,
    pub module: String,
    pub file: String,
    pub doc: Vec<String>,
    pub fields: Vec<FieldView>,
    /// True when `new()` takes no argument (then `Default` is implemented too).
    pub defaultable: bool,
    /// The field handles type (`PlayerStatsFields`).
    pub fields_ty: String,
    pub fields_doc: String,
}

#[derive(Serialize)]
pub struct ModelView {
    pub name: String,
    pub module: String,
    pub file: String,
    pub repo: String,
    pub repo_doc: String,
    pub doc: Vec<String>,
    pub prefix: String,
    pub ttl_seconds: Option<u64>,
    pub buckets: u16,
    pub slot_group: String,
    pub pk_field: String,
    pub pk_ty: Type,
    pub fields: Vec<FieldView>,
    pub containers: Vec<ContainerView>,
    pub defaultable: bool,
    /// The field handles type (`PlayerFields`).
    pub fields_ty: String,
    pub fields_doc: String,
    /// Fields without a repository shortcut, because a repository method has their name.
    pub shadowed: Vec<String>,
    /// Indexes, nested struct leaves included.
    pub indexes: Vec<IndexView>,
    /// Renamed fields (flattened paths), read from their old name.
    pub renames: Vec<RenameView>,
}

/// A field renamed with `renamed_from`.
#[derive(Serialize)]
pub struct RenameView {
    /// The path now.
    pub new: String,
    /// The path before.
    pub old: String,
}

/// One index of a model and its generated accessors.
#[derive(Serialize)]
pub struct IndexView {
    /// The hash field it follows (`score`, `stats.wins`).
    pub path: String,
    /// `rapyer::IndexKind` variant.
    pub kind: &'static str,
    /// `sorted`, `unique` or `lookup`.
    pub handle: &'static str,
    /// The field's value type (`optional` removed).
    pub value_ty: Type,
    /// `by_<path>`.
    pub accessor: String,
    /// `get_by_<path>` for unique indexes.
    pub get_by: Option<String>,
}

#[derive(Serialize)]
pub struct ContainerView {
    pub path: String,
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct FieldView {
    pub name: String,
    pub doc: Vec<String>,
    pub ty: Type,
    /// How the field is written and read: `scalar`, `optional`, `optional_json`, `flat`, `list`,
    /// `list_json`, `set`, `map`, `map_json`.
    pub storage: &'static str,
    /// For `flat`: the struct's name.
    pub struct_name: Option<String>,
    /// For `flat`: the prefix of the struct's fields (`stats.`).
    pub flat_prefix: String,
    /// How `new` fills it.
    pub init: Init,
    /// The schema default, used by `new` and when reading an instance that lacks the field.
    pub default: Option<DefaultView>,
    /// The handle its atomic operations are on; `None` for a model's key (immutable).
    pub handle: Option<HandleView>,
    /// A model field reachable as `repo.<field>(pk)` (not shadowed by a repository method).
    pub shortcut: bool,
}

/// The runtime handle type of a field's operations.
#[derive(Serialize)]
pub struct HandleView {
    /// `int`, `float`, `value`, `optional`, `list`, `set`, `map`, `struct`.
    pub kind: &'static str,
    /// The value or element type.
    pub elem: Option<Type>,
    /// Elements stored as JSON (`AsJson` codec).
    pub json: bool,
    /// For `struct`: the struct's handle type.
    pub fields_ty: Option<String>,
    /// `with_default` is called (int, float and other scalars with a schema default).
    pub with_default: bool,
}

/// How a constructor fills a field.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    /// A parameter of `new`; `into` for strings (`impl Into<String>`).
    Param { into: bool },
    /// A new random UUID (generated key).
    NewUuid,
    /// The schema default.
    Default,
    /// `None`.
    None,
    /// An empty container of this kind.
    Empty { container: &'static str },
    /// `Struct::new()`.
    StructNew { name: String },
}

/// A default value, structured so that templates render it through filters only.
#[derive(Serialize)]
pub struct DefaultView {
    /// Wrap in `Some(..)` (default of an `optional<T>`).
    pub some: bool,
    /// `none`, `bool`, `int`, `float`, `string`, `bytes`, `datetime`, `uuid_hi_lo`, `variant`, `json`.
    pub kind: &'static str,
    pub value: serde_json::Value,
    /// For `datetime`: nanoseconds; for `uuid`: low 64 bits (`value` holds the high ones).
    pub extra: Option<serde_json::Value>,
    /// For `variant`: the enum type.
    pub enum_ty: Option<Type>,
}

fn doc_lines(doc: &Option<String>) -> Vec<String> {
    doc.as_deref()
        .map(|d| d.lines().map(|l| format!(" {l}")).collect())
        .unwrap_or_default()
}

/// A type's doc, or a sentence naming it when the schema gives none (public items need docs).
fn type_doc(doc: &Option<String>, kind: &str, name: &str) -> Vec<String> {
    let lines = doc_lines(doc);
    if lines.is_empty() {
        vec![format!(" The `{name}` {kind} of the schema.")]
    } else {
        lines
    }
}

/// Builds the view of a checked schema.
pub fn build(schema: &Schema) -> SchemaView {
    let defaultable = |name: &str| struct_defaultable(schema, name, 0);
    let mut exports: Vec<ExportView> = schema
        .enums
        .iter()
        .map(|e| (&e.name, vec![e.name.clone()]))
        .chain(
            schema
                .structs
                .iter()
                .map(|s| (&s.name, vec![s.name.clone(), format!("{}Fields", s.name)])),
        )
        .chain(schema.models.iter().map(|m| {
            (
                &m.name,
                vec![
                    m.name.clone(),
                    format!("{}Fields", m.name),
                    format!("{}Repo", m.name),
                ],
            )
        }))
        .map(|(name, mut items)| {
            items.sort_by(|a, b| version_order(a, b));
            ExportView {
                module: module_name(name),
                items,
            }
        })
        .collect();
    exports.sort_by(|a, b| version_order(&a.module, &b.module));
    SchemaView {
        exports,
        generator: format!("rapyer-gen {}", env!("CARGO_PKG_VERSION")),
        version: schema.version,
        enums: schema
            .enums
            .iter()
            .map(|e| EnumView {
                name: e.name.clone(),
                module: module_name(&e.name),
                file: format!("{}.rs", module_name(&e.name)),
                expected: format!("a variant of {}", e.name),
                doc: type_doc(&e.doc, "enum", &e.name),
                variants: e
                    .variants
                    .iter()
                    .map(|v| VariantView {
                        name: v.name.clone(),
                        doc: format!(" Stored as `{}`.", v.name),
                        rust_name: v.rust_name.clone(),
                    })
                    .collect(),
            })
            .collect(),
        structs: schema
            .structs
            .iter()
            .map(|s| {
                let fields: Vec<FieldView> = s.fields.iter().map(|f| field_view(schema, f, None)).collect();
                StructView {
                    fields_ty: format!("{}Fields", s.name),
                    fields_doc: format!(
                        " Atomic operations on the fields of a [`{}`] stored in an instance, from \
                         the handle of the field that holds it.",
                        s.name
                    ),
                    name: s.name.clone(),
                    module: module_name(&s.name),
                    file: format!("{}.rs", module_name(&s.name)),
                    doc: type_doc(&s.doc, "struct", &s.name),
                    defaultable: defaultable(&s.name),
                    fields,
                }
            })
            .collect(),
        models: schema
            .models
            .iter()
            .map(|m| {
                let mut fields: Vec<FieldView> = m.fields.iter().map(|f| field_view(schema, f, Some(&m.key))).collect();
                let mut shadowed = Vec::new();
                for f in &mut fields {
                    if f.handle.is_none() {
                        continue;
                    }
                    if REPO_METHODS.contains(&f.name.as_str()) {
                        shadowed.push(f.name.clone());
                    } else {
                        f.shortcut = true;
                    }
                }
                let pk = m.fields.iter().find(|f| f.name == m.key.field()).expect("key field exists");
                let mut containers = Vec::new();
                collect_containers(schema, &m.fields, "", &mut containers);
                ModelView {
                    fields_ty: format!("{}Fields", m.name),
                    fields_doc: format!(
                        " Atomic operations on the fields of one [`{}`], from `{}Repo::fields(pk)`.",
                        m.name, m.name
                    ),
                    shadowed,
                    indexes: index_views(schema, m),
                    renames: rename_views(schema, &m.fields, "", 0),
                    name: m.name.clone(),
                    module: module_name(&m.name),
                    file: format!("{}.rs", module_name(&m.name)),
                    repo: format!("{}Repo", m.name),
                    repo_doc: format!(
                        " Repository of [`{}`]: every operation of [`rapyer::Repo`] (through `Deref`).",
                        m.name
                    ),
                    doc: type_doc(&m.doc, "model", &m.name),
                    prefix: m.prefix.clone(),
                    ttl_seconds: m.ttl_seconds,
                    buckets: m.buckets,
                    slot_group: m.slot_group.clone(),
                    pk_field: pk.name.clone(),
                    pk_ty: pk.ty.clone(),
                    defaultable: fields.iter().all(|f| !matches!(f.init, Init::Param { .. })),
                    fields,
                    containers,
                }
            })
            .collect(),
    }
}

/// Element types stored with their scalar codec; everything else is stored as JSON.
fn is_scalar(t: &Type) -> bool {
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
    )
}

fn field_view(schema: &Schema, f: &ir::Field, key: Option<&Key>) -> FieldView {
    let (storage, struct_name) = match &f.ty {
        Type::Struct(n) => ("flat", Some(n.clone())),
        Type::Optional(inner) if matches!(**inner, Type::Struct(_)) => ("optional_json", None),
        Type::Optional(_) => ("optional", None),
        Type::List(e) if is_scalar(e) => ("list", None),
        Type::List(_) => ("list_json", None),
        Type::Set(_) => ("set", None),
        Type::Map(e) if is_scalar(e) => ("map", None),
        Type::Map(_) => ("map_json", None),
        _ => ("scalar", None),
    };
    let init = match (&f.ty, &f.default, key) {
        (_, _, Some(Key::GeneratedUuid { field })) if *field == f.name => Init::NewUuid,
        (_, Some(_), _) => Init::Default,
        (Type::Optional(_), None, _) => Init::None,
        (Type::List(_), None, _) => Init::Empty { container: "vec" },
        (Type::Set(_), None, _) => Init::Empty { container: "set" },
        (Type::Map(_), None, _) => Init::Empty { container: "map" },
        (Type::Struct(n), None, _) if struct_defaultable(schema, n, 0) => {
            Init::StructNew { name: n.clone() }
        }
        (t, None, _) => Init::Param {
            into: *t == Type::String,
        },
    };
    let is_key = key.is_some_and(|k| k.field() == f.name);
    FieldView {
        handle: (!is_key).then(|| handle_view(&f.ty, f.default.is_some())),
        shortcut: false,
        name: f.name.clone(),
        doc: field_doc(f),
        ty: f.ty.clone(),
        flat_prefix: format!("{}.", f.name),
        storage,
        struct_name,
        init,
        default: f.default.as_ref().map(|d| default_view(&f.ty, d)),
    }
}

/// Methods of `Repo` (and of the traits a repository implements) plus names kept for later
/// repository methods: a field with one of these names gets no `repo.<field>(pk)` shortcut
/// (it would shadow the method); `repo.fields(pk).<field>()` always works.
pub const REPO_METHODS: &[&str] = &[
    "all",
    "client",
    "clone",
    "count",
    "delete",
    "deref",
    "exists",
    "fields",
    "fmt",
    "get",
    "get_many",
    "insert",
    "instance",
    "key_of",
    "keys_of",
    "lock",
    "lock_key",
    "lock_many",
    "lock_pair",
    "lock_with",
    "new",
    "pipeline",
    "reindex",
    "save",
    "update",
    "update_many",
    "update_with",
];

fn rename_views(
    schema: &Schema,
    fields: &[ir::Field],
    prefix: &str,
    depth: usize,
) -> Vec<RenameView> {
    let mut out = Vec::new();
    if depth > schema.structs.len() {
        return out;
    }
    for f in fields {
        if let Some(old) = &f.renamed_from {
            out.push(RenameView {
                new: format!("{prefix}{}", f.name),
                old: format!("{prefix}{old}"),
            });
        }
        if let Type::Struct(n) = &f.ty
            && let Some(s) = schema.structs.iter().find(|s| s.name == *n)
        {
            out.extend(rename_views(
                schema,
                &s.fields,
                &format!("{prefix}{}.", f.name),
                depth + 1,
            ));
        }
    }
    out
}

fn index_views(schema: &Schema, m: &ir::Model) -> Vec<IndexView> {
    let mut indexed = Vec::new();
    crate::check::flattened_indexes(schema, &m.fields, "", 0, &mut indexed);
    indexed
        .into_iter()
        .filter_map(|(path, f)| {
            let value_ty = match &f.ty {
                Type::Optional(inner) => inner.as_ref().clone(),
                t => t.clone(),
            };
            let (kind, handle) = match (f.index?, &value_ty) {
                (ir::IndexKind::Sorted, Type::Int) => ("SortedInt", "sorted"),
                (ir::IndexKind::Sorted, Type::Float) => ("SortedFloat", "sorted"),
                (ir::IndexKind::Sorted, _) => ("SortedDateTime", "sorted"),
                (ir::IndexKind::Unique, _) => ("Unique", "unique"),
                (ir::IndexKind::Lookup, _) => ("Lookup", "lookup"),
            };
            let base = path.replace('.', "_");
            Some(IndexView {
                kind,
                handle,
                value_ty,
                accessor: format!("by_{base}"),
                get_by: (handle == "unique").then(|| format!("get_by_{base}")),
                path,
            })
        })
        .collect()
}

fn handle_view(ty: &Type, has_default: bool) -> HandleView {
    let view = |kind, elem: Option<&Type>| HandleView {
        kind,
        json: elem.is_some_and(|e| !is_scalar(e)),
        elem: elem.cloned(),
        fields_ty: None,
        with_default: false,
    };
    match ty {
        Type::Int => HandleView {
            with_default: has_default,
            ..view("int", None)
        },
        Type::Float => HandleView {
            with_default: has_default,
            ..view("float", None)
        },
        Type::Optional(inner) => view("optional", Some(inner)),
        Type::List(e) => view("list", Some(e)),
        Type::Set(e) => view("set", Some(e)),
        Type::Map(e) => view("map", Some(e)),
        Type::Struct(n) => HandleView {
            fields_ty: Some(format!("{n}Fields")),
            ..view("struct", None)
        },
        t => HandleView {
            with_default: has_default,
            ..view("value", Some(t))
        },
    }
}

/// The field's own doc, then a line stating its schema type, default and index.
fn field_doc(f: &ir::Field) -> Vec<String> {
    let mut lines = doc_lines(&f.doc);
    if !lines.is_empty() {
        lines.push(String::new());
    }
    let mut facts = format!(" Schema type `{}`", f.ty.schema_name());
    if let Some(d) = &f.default {
        facts.push_str(&format!(", default `{}`", default_text(d)));
    }
    if let Some(i) = f.index {
        facts.push_str(&format!(", `{}` index", i.name()));
    }
    facts.push('.');
    lines.push(facts);
    lines
}

fn default_text(d: &Value) -> String {
    match d {
        Value::None => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) => format!("{s:?}"),
        Value::DateTime { secs, nanos } => chrono::DateTime::from_timestamp(*secs, *nanos)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default(),
        Value::Uuid(u) => uuid::Uuid::from_u128(*u).to_string(),
        Value::Variant { name, .. } => name.clone(),
        Value::Json(j) => j.clone(),
    }
}

fn default_view(ty: &Type, value: &Value) -> DefaultView {
    let (some, ty) = match ty {
        Type::Optional(inner) if *value != Value::None => (true, inner.as_ref()),
        t => (false, t),
    };
    let view = |kind, value: serde_json::Value| DefaultView {
        some,
        kind,
        value,
        extra: None,
        enum_ty: None,
    };
    match value {
        Value::None => view("none", serde_json::Value::Null),
        Value::Bool(b) => view("bool", (*b).into()),
        Value::Int(i) => view("int", (*i).into()),
        Value::Float(f) => view("float", (*f).into()),
        Value::String(s) if *ty == Type::Bytes => view("bytes", s.clone().into()),
        Value::String(s) => view("string", s.clone().into()),
        Value::DateTime { secs, nanos } => DefaultView {
            extra: Some((*nanos as i64).into()),
            ..view("datetime", (*secs).into())
        },
        Value::Uuid(u) => DefaultView {
            extra: Some(((*u as u64) as i64).into()),
            ..view("uuid_hi_lo", (((*u >> 64) as u64) as i64).into())
        },
        Value::Variant { rust_name, .. } => DefaultView {
            enum_ty: Some(ty.clone()),
            ..view("variant", rust_name.clone().into())
        },
        Value::Json(j) => view("json", j.clone().into()),
    }
}

/// A struct is defaultable when every field can be filled without a constructor argument.
fn struct_defaultable(schema: &Schema, name: &str, depth: usize) -> bool {
    let Some(s) = schema.structs.iter().find(|s| s.name == name) else {
        return false;
    };
    if depth > schema.structs.len() {
        return false;
    }
    s.fields.iter().all(|f| {
        f.default.is_some()
            || match &f.ty {
                Type::Optional(_) | Type::List(_) | Type::Set(_) | Type::Map(_) => true,
                Type::Struct(n) => struct_defaultable(schema, n, depth + 1),
                _ => false,
            }
    })
}

/// Container fields of a model, with nested struct containers flattened to `field.sub` paths.
fn collect_containers(
    schema: &Schema,
    fields: &[ir::Field],
    prefix: &str,
    out: &mut Vec<ContainerView>,
) {
    let mut found = Vec::new();
    crate::check::flattened_containers(schema, fields, prefix, &mut found);
    out.extend(found.into_iter().map(|(path, ty)| ContainerView {
        path,
        kind: match ty {
            Type::List(_) => "List",
            Type::Set(_) => "Set",
            _ => "Map",
        },
    }));
}
