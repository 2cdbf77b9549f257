//! The view model handed to templates: the IR with every decision about generated code already
//! made (how each field is stored, what the constructor takes), so templates only lay out code.

use serde::{Deserialize, Serialize};

use crate::check::{module_name, version_order};
use crate::ir::{self, Key, Schema, Type, Value};
use crate::plan::{self, ModelPlan, Storage};

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
    /// Fields that may hold a float (checked by `Finite`).
    pub float_fields: Vec<String>,
    /// `new` takes more parameters than clippy likes.
    pub many_params: bool,
    /// Every hash field it writes (relative to its prefix); empty when it holds a container
    /// (it then has no whole-value `get`/`set`).
    pub leaves: Vec<String>,
}

#[derive(Serialize)]
pub struct ModelView {
    pub name: String,
    pub module: String,
    pub file: String,
    pub repo: String,
    pub repo_doc: String,
    pub doc: Vec<String>,
    /// `ModelMeta::new` gives every other field its default: these are `Some` only where the
    /// schema differs from it (prefix and slot group the model's name, one bucket, no TTL).
    pub meta_default: bool,
    pub prefix: Option<String>,
    pub ttl_seconds: Option<u64>,
    /// The `rapyer::__private::TtlRefresh` variant.
    pub ttl_refresh: Option<crate::ir::TtlRefresh>,
    pub buckets: Option<u16>,
    pub slot_group: Option<String>,
    pub pk_field: String,
    pub pk_ty: Type,
    pub fields: Vec<FieldView>,
    pub containers: Vec<ContainerView>,
    pub defaultable: bool,
    /// The field handles type (`PlayerFields`).
    pub fields_ty: String,
    pub fields_doc: String,
    /// Indexes, nested struct leaves included.
    pub indexes: Vec<IndexView>,
    /// Renamed fields (flattened paths), read from their old name.
    pub renames: Vec<RenameView>,
    /// `new` takes more parameters than clippy likes.
    pub many_params: bool,
    /// `<Model>Patch`.
    pub patch_ty: String,
    pub patch_doc: String,
    /// The fields a patch can write: every field but the key, and but a struct holding a
    /// container (it has no whole-value `set`).
    pub patch_fields: Vec<PatchFieldView>,
}

/// One field of a `<Model>Patch`.
#[derive(Serialize)]
pub struct PatchFieldView {
    pub name: String,
    pub ty: Type,
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
    /// The query handle's runtime type (`SortedIndex`).
    pub handle: &'static str,
    /// The schema's name of the index kind, for docs.
    pub kind_doc: &'static str,
    /// The field's value type (`optional` removed).
    pub value_ty: Type,
    /// `by_<path>`.
    pub accessor: String,
    /// `get_by_<path>` for unique indexes.
    pub get_by: Option<String>,
    /// A partitioned index's partition field path (the accessor then takes its value).
    pub partition: Option<String>,
    /// That field's type.
    pub partition_ty: Option<Type>,
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
    /// The name it is stored under: the field name, or `field.` for a struct (its fields'
    /// prefix). In a struct, it follows the prefix of the field that holds the struct.
    pub stored: String,
    /// The `RecordWriter` method that writes it, and the `RecordReader` method that reads it
    /// (`field_or` instead of `field` when it has a default).
    pub record: &'static str,
    /// For `field_or`: the value of an instance stored without the field.
    pub read_default: Option<Literal>,
    /// A parameter of `new`, taking `impl Into<String>` when `into`.
    pub param: Option<Param>,
    /// How `new` fills it.
    pub init: Init,
    /// The handle its atomic operations are on; `None` for a model's key (immutable).
    pub handle: Option<Handle>,
    /// The handle's `with_default` value.
    pub handle_default: Option<Literal>,
}

/// A parameter of a constructor.
#[derive(Serialize)]
pub struct Param {
    /// Takes `impl Into<String>` (strings) rather than the field's type.
    pub into: bool,
}

/// How a constructor fills a field, rendered by the `init` filter as a struct literal entry.
#[derive(Serialize, Deserialize)]
pub struct Init {
    /// The field.
    pub name: String,
    /// Its value.
    pub value: InitValue,
}

/// The value a constructor gives a field.
#[derive(Serialize, Deserialize)]
pub enum InitValue {
    /// The parameter of the same name (`.into()` when `into`).
    Param {
        /// Converted with `Into`.
        into: bool,
    },
    /// A new random UUID (generated key).
    NewUuid,
    /// A literal value (the schema default).
    Literal(Literal),
    /// An empty `Vec`.
    EmptyList,
    /// An empty `BTreeSet`.
    EmptySet,
    /// An empty `BTreeMap`.
    EmptyMap,
    /// The struct's own `new()`.
    StructNew(Type),
}

/// A value known at generation time, rendered by the `value` filter.
#[derive(Clone, Serialize, Deserialize)]
pub enum Literal {
    /// `None`.
    None,
    /// `Some(..)` of an optional field's default.
    Some(Box<Literal>),
    /// A bool.
    Bool(bool),
    /// An i64.
    Int(i64),
    /// A finite f64.
    Float(f64),
    /// A `String`.
    String(String),
    /// A `Vec<u8>` of these UTF-8 bytes.
    Bytes(String),
    /// A UTC datetime.
    DateTime {
        /// Seconds since the epoch.
        secs: i64,
        /// Nanoseconds in the second.
        nanos: u32,
    },
    /// A UUID, hyphenated.
    Uuid(String),
    /// An enum variant.
    Variant {
        /// The enum type.
        ty: Type,
        /// The variant's Rust name.
        rust_name: String,
    },
    /// A JSON value, as compact JSON text.
    Json(String),
}

/// The runtime handle type of a field's operations, rendered by the `handle` filter.
#[derive(Serialize, Deserialize)]
pub enum Handle {
    /// `IntField`.
    Int,
    /// `FloatField`.
    Float,
    /// `ValueField<T>`.
    Value(Type),
    /// `OptionalField<T>` (`AsJson` when `json`).
    Optional {
        /// The value type.
        elem: Type,
        /// Stored as JSON.
        json: bool,
    },
    /// `ListField<T>`.
    List {
        /// The element type.
        elem: Type,
        /// Stored as JSON.
        json: bool,
    },
    /// `SetField<T>`.
    Set(Type),
    /// `ZSetField<T>`.
    ZSet(Type),
    /// `MapField<T>`.
    Map {
        /// The value type.
        elem: Type,
        /// Stored as JSON.
        json: bool,
    },
    /// The struct's `<Struct>Fields`.
    Struct(String),
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
                    format!("{}Patch", m.name),
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
            .map(|s| struct_view(schema, s))
            .collect(),
        models: schema
            .models
            .iter()
            .map(|m| model_view(schema, m))
            .collect(),
    }
}

fn struct_view(schema: &Schema, s: &ir::Struct) -> StructView {
    let fields: Vec<FieldView> = s
        .fields
        .iter()
        .map(|f| field_view(schema, f, None))
        .collect();
    StructView {
        fields_ty: format!("{}Fields", s.name),
        fields_doc: format!(
            " Atomic operations on the fields of a [`{}`] stored in an instance, from the \
             handle of the field that holds it.",
            s.name
        ),
        name: s.name.clone(),
        module: module_name(&s.name),
        file: format!("{}.rs", module_name(&s.name)),
        doc: type_doc(&s.doc, "struct", &s.name),
        defaultable: plan::struct_defaultable(schema, &s.name),
        float_fields: float_fields(schema, &s.fields),
        many_params: many_params(&fields),
        leaves: plan::struct_leaves(schema, &s.name).unwrap_or_default(),
        fields,
    }
}

/// More constructor parameters than clippy's `too_many_arguments` allows (7).
fn many_params(fields: &[FieldView]) -> bool {
    fields.iter().filter(|f| f.param.is_some()).count() > 7
}

fn model_view(schema: &Schema, m: &ir::Model) -> ModelView {
    let plan = ModelPlan::new(schema, m);
    let fields: Vec<FieldView> = m
        .fields
        .iter()
        .map(|f| field_view(schema, f, Some(&m.key)))
        .collect();
    let mut view = ModelView {
        meta_default: false,
        fields_ty: format!("{}Fields", m.name),
        fields_doc: format!(
            " Atomic operations on the fields of one [`{}`], from `{}Repo::fields(pk)`.",
            m.name, m.name
        ),
        indexes: plan
            .indexes()
            .map(|(p, ix)| IndexView {
                path: p.path.clone(),
                kind: ix.storage.runtime_name(),
                handle: match ix.kind {
                    ir::IndexKind::Sorted => "SortedIndex",
                    ir::IndexKind::Unique => "UniqueIndex",
                    ir::IndexKind::Lookup => "LookupIndex",
                },
                kind_doc: ix.kind.name(),
                value_ty: ix.value_ty.clone(),
                accessor: ix.accessor.clone(),
                get_by: ix.get_by.clone(),
                partition: ix.partition.as_ref().map(|(p, _)| p.clone()),
                partition_ty: ix.partition.as_ref().map(|(_, t)| t.clone()),
            })
            .collect(),
        containers: plan
            .containers()
            .map(|(p, kind)| ContainerView {
                path: p.path.clone(),
                kind: kind.runtime_name(),
            })
            .collect(),
        renames: plan
            .renames()
            .map(|(new, old)| RenameView {
                new: new.to_string(),
                old: old.to_string(),
            })
            .collect(),
        name: m.name.clone(),
        module: module_name(&m.name),
        file: format!("{}.rs", module_name(&m.name)),
        repo: format!("{}Repo", m.name),
        repo_doc: format!(
            " Repository of [`{}`]: every operation of [`rapyer::Repo`] (through `Deref`) and the \
             queries of its indexes.",
            m.name
        ),
        doc: type_doc(&m.doc, "model", &m.name),
        prefix: Some(m.prefix.clone()).filter(|p| *p != m.name),
        ttl_seconds: m.ttl_seconds,
        ttl_refresh: Some(m.ttl_refresh).filter(|r| *r != crate::ir::TtlRefresh::Never),
        buckets: Some(m.buckets).filter(|b| *b != 1),
        slot_group: Some(m.slot_group.clone()).filter(|g| *g != m.name),
        pk_field: plan.pk.name.clone(),
        pk_ty: plan.pk.ty.clone(),
        defaultable: fields.iter().all(|f| f.param.is_none()),
        many_params: many_params(&fields),
        patch_ty: format!("{}Patch", m.name),
        patch_doc: format!(
            " Several fields of one [`{}`] written in one atomic step (indexes and unique checks \
             included): `{}Repo::patch(pk, &patch)`, or queued into a batch. `None` leaves a \
             field as it is; a container is replaced whole.",
            m.name, m.name
        ),
        patch_fields: m
            .fields
            .iter()
            .zip(&fields)
            .filter(|(f, view)| {
                view.handle.is_some()
                    && match &f.ty {
                        Type::Struct(n) => plan::struct_leaves(schema, n).is_some(),
                        _ => true,
                    }
            })
            .map(|(f, _)| PatchFieldView {
                name: f.name.clone(),
                ty: f.ty.clone(),
            })
            .collect(),
        fields,
    };
    view.meta_default = view.prefix.is_none()
        && view.ttl_seconds.is_none()
        && view.ttl_refresh.is_none()
        && view.buckets.is_none()
        && view.slot_group.is_none()
        && view.containers.is_empty()
        && view.indexes.is_empty()
        && view.renames.is_empty();
    view
}

/// The fields whose value may hold a float, the only values `Finite` must check.
fn float_fields(schema: &Schema, fields: &[ir::Field]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| plan::may_hold_float(schema, &f.ty))
        .map(|f| f.name.clone())
        .collect()
}

fn field_view(schema: &Schema, f: &ir::Field, key: Option<&Key>) -> FieldView {
    let storage = Storage::of(&f.ty);
    let record = match &storage {
        Storage::Scalar => "field",
        Storage::Optional { json: false } => "optional",
        Storage::Optional { json: true } => "optional_json",
        Storage::Struct { .. } => "flat",
        Storage::List { json: false } => "list",
        Storage::List { json: true } => "list_json",
        Storage::Set => "set",
        Storage::ZSet => "zset",
        Storage::Map { json: false } => "map",
        Storage::Map { json: true } => "map_json",
    };
    let default = f.default.as_ref().map(|d| literal(&f.ty, d));
    let is_key = key.is_some_and(|k| k.field() == f.name);
    let value = match (&f.ty, &default, key) {
        (_, _, Some(Key::GeneratedUuid { field })) if *field == f.name => InitValue::NewUuid,
        (_, Some(d), _) => InitValue::Literal(d.clone()),
        (Type::Optional(_), None, _) => InitValue::Literal(Literal::None),
        (Type::List(_), None, _) => InitValue::EmptyList,
        (Type::Set(_), None, _) => InitValue::EmptySet,
        (Type::Map(_) | Type::ZSet(_), None, _) => InitValue::EmptyMap,
        (Type::Struct(n), None, _) if plan::struct_defaultable(schema, n) => {
            InitValue::StructNew(f.ty.clone())
        }
        (t, None, _) => InitValue::Param {
            into: *t == Type::String,
        },
    };
    let handle = (!is_key).then(|| handle(&f.ty));
    FieldView {
        handle_default: default
            .clone()
            .filter(|_| matches!(handle, Some(Handle::Int | Handle::Float | Handle::Value(_)))),
        handle,
        read_default: default.filter(|_| storage == Storage::Scalar),
        param: match value {
            InitValue::Param { into } => Some(Param { into }),
            _ => None,
        },
        init: Init {
            name: f.name.clone(),
            value,
        },
        name: f.name.clone(),
        doc: field_doc(f),
        ty: f.ty.clone(),
        stored: match storage {
            Storage::Struct { .. } => format!("{}.", f.name),
            _ => f.name.clone(),
        },
        record,
    }
}

fn handle(ty: &Type) -> Handle {
    let json = |e: &Type| !plan::is_scalar(e);
    match ty {
        Type::Int => Handle::Int,
        Type::Float => Handle::Float,
        Type::Optional(e) => Handle::Optional {
            elem: e.as_ref().clone(),
            json: json(e),
        },
        Type::List(e) => Handle::List {
            elem: e.as_ref().clone(),
            json: json(e),
        },
        Type::Set(e) => Handle::Set(e.as_ref().clone()),
        Type::ZSet(e) => Handle::ZSet(e.as_ref().clone()),
        Type::Map(e) => Handle::Map {
            elem: e.as_ref().clone(),
            json: json(e),
        },
        Type::Struct(n) => Handle::Struct(format!("{n}Fields")),
        t => Handle::Value(t.clone()),
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
        facts.push_str(&format!(", default `{}`", plan::default_text(d)));
    }
    if let Some(i) = f.index {
        facts.push_str(&format!(", `{}` index", i.name()));
    }
    facts.push('.');
    lines.push(facts);
    lines
}

/// The default `value` of a field of type `ty`, as a literal of the field's Rust type.
fn literal(ty: &Type, value: &Value) -> Literal {
    let plain = match ty {
        Type::Optional(inner) if *value != Value::None => {
            return Literal::Some(Box::new(literal(inner, value)));
        }
        t => t,
    };
    match value {
        Value::None => Literal::None,
        Value::Bool(b) => Literal::Bool(*b),
        Value::Int(i) => Literal::Int(*i),
        Value::Float(f) => Literal::Float(*f),
        Value::String(s) if *plain == Type::Bytes => Literal::Bytes(s.clone()),
        Value::String(s) => Literal::String(s.clone()),
        Value::DateTime { secs, nanos } => Literal::DateTime {
            secs: *secs,
            nanos: *nanos,
        },
        Value::Uuid(u) => Literal::Uuid(uuid::Uuid::from_u128(*u).to_string()),
        Value::Variant { rust_name, .. } => Literal::Variant {
            ty: plain.clone(),
            rust_name: rust_name.clone(),
        },
        Value::Json(j) => Literal::Json(j.clone()),
    }
}
