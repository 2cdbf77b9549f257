//! The runtime's description of a model ([`rapyer::__private::ModelMeta`]) built from a checked schema at run
//! time, for commands that work on stored data without generated code (`rapyer-gen reindex`,
//! `rapyer-gen migrate`). It is read from the same [storage plan](crate::plan) as the generated
//! `META`, so the two are equal (a test compares them).

use crate::ir::{Model, Schema};
use crate::plan::{ContainerKind, IndexStorage, ModelPlan};

/// The runtime metadata of `model`. Its strings are leaked: a command builds it once per run.
pub fn model_meta(schema: &Schema, model: &Model) -> rapyer::__private::ModelMeta {
    fn leak(s: &str) -> &'static str {
        Box::leak(s.to_string().into_boxed_str())
    }
    fn slice<T>(items: Vec<T>) -> &'static [T] {
        Box::leak(items.into_boxed_slice())
    }
    let plan = ModelPlan::new(schema, model);
    let indexes = plan
        .indexes()
        .map(|(p, ix)| {
            let kind = match ix.storage {
                IndexStorage::SortedInt => rapyer::__private::IndexKind::SortedInt,
                IndexStorage::SortedFloat => rapyer::__private::IndexKind::SortedFloat,
                IndexStorage::SortedDateTime => rapyer::__private::IndexKind::SortedDateTime,
                IndexStorage::Unique => rapyer::__private::IndexKind::Unique,
                IndexStorage::Lookup => rapyer::__private::IndexKind::Lookup,
            };
            match &ix.partition {
                None => rapyer::__private::IndexMeta::new(leak(&p.path), kind),
                Some((by, _)) => {
                    rapyer::__private::IndexMeta::partitioned(leak(&p.path), kind, leak(by))
                }
            }
        })
        .collect();
    let containers = plan
        .containers()
        .map(|(p, kind)| {
            let kind = match kind {
                ContainerKind::List => rapyer::__private::ContainerKind::List,
                ContainerKind::Set => rapyer::__private::ContainerKind::Set,
                ContainerKind::Map => rapyer::__private::ContainerKind::Map,
                ContainerKind::ZSet => rapyer::__private::ContainerKind::ZSet,
            };
            rapyer::__private::ContainerMeta::new(leak(&p.path), kind)
        })
        .collect();
    let renames = plan
        .renames()
        .map(|(new, old)| (leak(new), leak(old)))
        .collect();
    rapyer::__private::ModelMeta {
        name: leak(&model.name),
        prefix: leak(&model.prefix),
        schema_version: schema.version,
        ttl_seconds: model.ttl_seconds,
        ttl_refresh: match model.ttl_refresh {
            crate::ir::TtlRefresh::Never => rapyer::__private::TtlRefresh::Never,
            crate::ir::TtlRefresh::OnWrite => rapyer::__private::TtlRefresh::OnWrite,
            crate::ir::TtlRefresh::OnRead => rapyer::__private::TtlRefresh::OnRead,
        },
        buckets: model.buckets,
        slot_group: leak(&model.slot_group),
        containers: slice(containers),
        indexes: slice(indexes),
        renames: slice(renames),
    }
}
