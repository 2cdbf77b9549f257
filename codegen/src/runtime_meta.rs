//! The runtime's description of a model ([`rapyer::ModelMeta`]) built from a checked schema at run
//! time, for commands that work on stored data without generated code (`rapyer-gen reindex`,
//! `rapyer-gen migrate`). It equals the generated `META` but for the renames.

use crate::check::{flattened_containers, flattened_indexes};
use crate::ir::{IndexKind, Model, Schema, Type};

/// The runtime metadata of `model`. Its strings are leaked: a command builds it once per run.
pub fn model_meta(schema: &Schema, model: &Model) -> rapyer::ModelMeta {
    fn leak(s: &str) -> &'static str {
        Box::leak(s.to_string().into_boxed_str())
    }
    let mut indexed = Vec::new();
    flattened_indexes(schema, &model.fields, "", 0, &mut indexed);
    let indexes: Vec<rapyer::IndexMeta> = indexed
        .into_iter()
        .filter_map(|(path, f)| {
            let base = match &f.ty {
                Type::Optional(inner) => inner.as_ref(),
                t => t,
            };
            let kind = match (f.index?, base) {
                (IndexKind::Sorted, Type::Int) => rapyer::IndexKind::SortedInt,
                (IndexKind::Sorted, Type::Float) => rapyer::IndexKind::SortedFloat,
                (IndexKind::Sorted, _) => rapyer::IndexKind::SortedDateTime,
                (IndexKind::Unique, _) => rapyer::IndexKind::Unique,
                (IndexKind::Lookup, _) => rapyer::IndexKind::Lookup,
            };
            Some(rapyer::IndexMeta {
                path: leak(&path),
                kind,
            })
        })
        .collect();
    let mut found = Vec::new();
    flattened_containers(schema, &model.fields, "", &mut found);
    let containers: Vec<rapyer::ContainerMeta> = found
        .into_iter()
        .map(|(path, ty)| rapyer::ContainerMeta {
            path: leak(&path),
            kind: match ty {
                Type::List(_) => rapyer::ContainerKind::List,
                Type::Set(_) => rapyer::ContainerKind::Set,
                _ => rapyer::ContainerKind::Map,
            },
        })
        .collect();
    rapyer::ModelMeta {
        name: leak(&model.name),
        prefix: leak(&model.prefix),
        schema_version: schema.version,
        ttl_seconds: model.ttl_seconds,
        buckets: model.buckets,
        slot_group: leak(&model.slot_group),
        containers: Box::leak(containers.into_boxed_slice()),
        indexes: Box::leak(indexes.into_boxed_slice()),
        renames: &[],
    }
}
