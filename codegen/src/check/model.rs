//! Checks of models and of the schema as a whole: keys, prefixes, TTLs, struct cycles, and names
//! that the generated code would make collide.

use std::collections::{BTreeMap, HashMap};

use super::{Checker, Decl, DeclKind, KEY_KEYS, MODEL_KEYS, TTL_KEYS, get, names};
use crate::diagnostic::Span;
use crate::ir::{Field, Key, Model, Schema, TtlRefresh, Type};
use crate::load::{Node, NodeKind};

/// The most buckets a model may have (every query asks each of them).
const MAX_BUCKETS: i64 = 1024;

impl<'a> Checker<'a> {
    pub(super) fn check_model(
        &mut self,
        decl: &Decl<'a>,
        kinds: &HashMap<String, DeclKind>,
    ) -> Option<Model> {
        let entries = self.entries(
            decl.node,
            &format!("model `{}`", decl.name),
            Some(MODEL_KEYS),
        );
        let doc = self.doc(&entries);
        let mut fields = self.check_fields(decl, &entries, kinds);
        let key = self.check_key(decl, get(&entries, "key"), &mut fields)?;
        let prefix = match get(&entries, "prefix") {
            None => decl.name.clone(),
            Some(node) => {
                let prefix = self.string(node, "`prefix`")?;
                if !names::is_prefix(prefix) {
                    self.error(node.span, format!("`{prefix}` is not a valid key prefix"))
                        .help = Some("a prefix is ASCII letters, digits, `_`, `-`, `.` and inner `:`; braces would break the hash tags of its keys".into());
                    return None;
                }
                prefix.to_string()
            }
        };
        let (ttl_seconds, ttl_refresh) = match get(&entries, "ttl") {
            None => (None, TtlRefresh::Never),
            Some(node) => {
                let (seconds, refresh) = self.check_ttl(node)?;
                (Some(seconds), refresh)
            }
        };
        let buckets = match get(&entries, "buckets") {
            None => 1,
            Some(node) => self.check_buckets(node)?,
        };
        let slot_group = match get(&entries, "slot_group") {
            None => prefix.clone(),
            Some(node) => {
                let group = self.string(node, "`slot_group`")?;
                if !names::is_prefix(group) {
                    self.error(node.span, format!("`{group}` is not a valid slot group"))
                        .help = Some("a slot group is written like a prefix: ASCII letters, digits, `_`, `-`, `.` and inner `:`".into());
                    return None;
                }
                group.to_string()
            }
        };
        Some(Model {
            name: decl.name.clone(),
            doc,
            prefix,
            key,
            ttl_seconds,
            ttl_refresh,
            buckets,
            slot_group,
            fields,
            span: decl.span,
        })
    }

    fn check_key(
        &mut self,
        decl: &Decl<'a>,
        node: Option<&'a Node>,
        fields: &mut Vec<Field>,
    ) -> Option<Key> {
        let (generate, field) = match node {
            None => (None, None),
            Some(node) => {
                let entries = self.entries(node, "`key`", Some(KEY_KEYS));
                (get(&entries, "generate"), get(&entries, "field"))
            }
        };
        let field_name = match field {
            Some(f) => Some((self.string(f, "`key.field`")?, f.span)),
            None => None,
        };
        if let Some(g) = generate {
            match &g.kind {
                NodeKind::Str(s) if s == "uuid" => {}
                _ => {
                    self.error(g.span, "`key.generate` must be `uuid`");
                    return None;
                }
            }
        }
        match (generate, field_name) {
            (None, Some((name, span))) => {
                let Some(f) = fields.iter().find(|f| f.name == name) else {
                    self.error(
                        span,
                        format!("key field `{name}` is not a field of `{}`", decl.name),
                    );
                    return None;
                };
                if !matches!(f.ty, Type::String | Type::Int | Type::Uuid) {
                    self.error(span, format!("key field `{name}` has type `{}`; a key must be `string`, `int` or `uuid`", f.ty.schema_name()));
                    return None;
                }
                // The key field goes first: it is what the instance is about.
                let pos = fields
                    .iter()
                    .position(|f| f.name == name)
                    .expect("found above");
                let f = fields.remove(pos);
                fields.insert(0, f);
                Some(Key::Natural {
                    field: name.to_string(),
                })
            }
            (_, named) => {
                let (name, span) = named.unwrap_or(("id", decl.span));
                if !names::is_field_name(name) || names::is_keyword(name) {
                    self.error(
                        span,
                        format!("`{name}` is not a valid field name for the key"),
                    );
                    return None;
                }
                if let Some(f) = fields.iter().find(|f| f.name == name) {
                    let line = f.span.line;
                    self.error(f.span, format!("field `{name}` clashes with the generated uuid key `{name}` (line {line})"))
                        .help = Some("name the key field with `key: { generate: uuid, field: other_name }`, or make this field the key with `key: { field: ... }`".into());
                    return None;
                }
                fields.insert(
                    0,
                    Field {
                        name: name.to_string(),
                        doc: Some("Primary key, generated when the instance is created.".into()),
                        ty: Type::Uuid,
                        default: None,
                        index: None,
                        partition_by: None,
                        renamed_from: None,
                        span,
                    },
                );
                Some(Key::GeneratedUuid {
                    field: name.to_string(),
                })
            }
        }
    }

    fn check_buckets(&mut self, node: &'a Node) -> Option<u16> {
        match node.kind {
            NodeKind::Int(n) if (1..=MAX_BUCKETS).contains(&n) && n.count_ones() == 1 => {
                Some(n as u16)
            }
            _ => {
                self.error(
                    node.span,
                    format!("`buckets` must be a power of two from 1 to {MAX_BUCKETS}"),
                )
                .help = Some("the number of hash slots a model's instances are spread over on a cluster: 1 keeps the whole model (unique checks included) in one slot".into());
                None
            }
        }
    }

    /// `ttl: 30m`, or `ttl: { after: 30m, refresh: write }` (`refresh`: `never`, `write` or
    /// `read`; `never` by default).
    fn check_ttl(&mut self, node: &'a Node) -> Option<(u64, TtlRefresh)> {
        if !matches!(node.kind, NodeKind::Map(_)) {
            return Some((self.check_duration(node)?, TtlRefresh::Never));
        }
        let entries = self.entries(node, "`ttl`", Some(TTL_KEYS));
        let Some(after) = get(&entries, "after") else {
            self.error(node.span, "`ttl` needs `after`, the time to live")
                .help = Some("for example `ttl: { after: 30m, refresh: write }`".into());
            return None;
        };
        let seconds = self.check_duration(after)?;
        let refresh = match get(&entries, "refresh") {
            None => TtlRefresh::Never,
            Some(node) => {
                let word = self.string(node, "`refresh`")?;
                let all = [TtlRefresh::Never, TtlRefresh::OnWrite, TtlRefresh::OnRead];
                match all.into_iter().find(|r| r.word() == word) {
                    Some(refresh) => refresh,
                    None => {
                        self.error(node.span, format!("unknown `refresh` `{word}`")).help = Some(
                            "refresh is one of: never (whole-instance writes only), write (every write of the instance), read (every read and write)".into(),
                        );
                        return None;
                    }
                }
            }
        };
        Some((seconds, refresh))
    }

    fn check_duration(&mut self, node: &'a Node) -> Option<u64> {
        let seconds = match &node.kind {
            NodeKind::Int(s) if *s > 0 => Some(*s as u64),
            NodeKind::Str(s) => humantime::parse_duration(s)
                .ok()
                .map(|d| d.as_secs())
                .filter(|s| *s > 0),
            _ => None,
        };
        if seconds.is_none() {
            self.error(node.span, "`ttl` must be a positive number of seconds or a duration such as `30d` or `1h 30m`, of at least one second");
        }
        seconds
    }

    /// A struct may not contain itself other than through a container (it would be infinitely large).
    pub(super) fn check_struct_cycles(&mut self, schema: &Schema) {
        let by_name: BTreeMap<&str, &crate::ir::Struct> = schema
            .structs
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        for s in &schema.structs {
            let mut path = vec![s.name.clone()];
            if let Some((field, trail)) = find_cycle(&s.name, s, &by_name, &mut path) {
                self.error(
                    field,
                    format!(
                        "struct `{}` contains itself: {}",
                        s.name,
                        trail.join(" -> ")
                    ),
                )
                .help = Some("a struct can hold itself only inside a list or a map".into());
            }
        }
    }

    /// Generated names must not clash: `<Model>Repo`, `<Model>Patch` and `<Type>Fields` types,
    /// and the module (file) of each type.
    pub(super) fn check_generated_names(&mut self, schema: &Schema) {
        let declared: HashMap<&str, Span> = schema
            .enums
            .iter()
            .map(|e| (e.name.as_str(), e.span))
            .chain(schema.structs.iter().map(|s| (s.name.as_str(), s.span)))
            .chain(schema.models.iter().map(|m| (m.name.as_str(), m.span)))
            .collect();
        let generated = schema
            .models
            .iter()
            .flat_map(|m| {
                [
                    (format!("{}Repo", m.name), "repository", &m.name),
                    (format!("{}Fields", m.name), "field handles", &m.name),
                    (format!("{}Patch", m.name), "patch", &m.name),
                ]
            })
            .chain(
                schema
                    .structs
                    .iter()
                    .map(|s| (format!("{}Fields", s.name), "field handles", &s.name)),
            );
        for (name, what, owner) in generated {
            if let Some(span) = declared.get(name.as_str()) {
                self.error(
                    *span,
                    format!("`{name}` is the name of the {what} generated for `{owner}`"),
                )
                .help = Some("rename this type".into());
            }
        }
        let mut modules: BTreeMap<String, (&str, Span)> = BTreeMap::new();
        let mut sorted: Vec<(&str, Span)> = declared.into_iter().collect();
        sorted.sort_by_key(|(_, span)| (span.file, span.start));
        for (name, span) in sorted {
            let module = names::module_name(name);
            if matches!(module.as_str(), "self" | "super" | "crate" | "mod") {
                self.error(
                    span,
                    format!(
                        "`{name}` would generate the module `{module}`, which Rust does not allow"
                    ),
                );
            } else if let Some((other, _)) = modules.get(&module) {
                self.error(
                    span,
                    format!("`{name}` and `{other}` would both generate the file `{module}.rs`"),
                )
                .help = Some("rename one of them".into());
            } else {
                modules.insert(module, (name, span));
            }
        }
    }

    /// Indexes of each model, nested struct leaves included: no unique index on a model with a
    /// TTL and several buckets (its index would live in another slot than the instances, where
    /// no write can free an expired holder's value in the same step), and no two indexes
    /// needing the same repository method (`by_<path>`, `get_by_<path>`: `stats.wins` and
    /// `stats_wins` would).
    pub(super) fn check_indexes(&mut self, schema: &Schema) {
        for m in &schema.models {
            let plan = crate::plan::ModelPlan::new(schema, m);
            if m.ttl_seconds.is_some() && m.buckets > 1 {
                let unique = plan
                    .indexes()
                    .filter(|(_, ix)| ix.kind == crate::ir::IndexKind::Unique);
                for (p, _) in unique {
                    self.error(
                        p.field.span,
                        format!(
                            "model `{}` has a `ttl` and {} buckets, so it cannot have a unique index (on `{}`)",
                            m.name, m.buckets, p.path
                        ),
                    )
                    .help = Some(
                        "a unique index of several buckets lives in its own slot, where no write can free an expired holder's value; use `buckets: 1`, or drop the `ttl` or the `index`"
                            .into(),
                    );
                }
            }
            for (p, _) in plan.indexes() {
                if let Some(by) = &p.field.partition_by {
                    self.check_partition(m, p.depth, &p.path, p.field, by);
                }
            }
            let mut accessors: BTreeMap<&str, &str> = BTreeMap::new();
            for (p, ix) in plan.indexes() {
                for name in std::iter::once(&ix.accessor).chain(&ix.get_by) {
                    if let Some(other) = accessors.insert(name, &p.path) {
                        self.error(
                            p.field.span,
                            format!(
                                "the index on `{}` of model `{}` needs the method `{name}`, which the index on `{other}` already uses",
                                p.path, m.name
                            ),
                        )
                        .help = Some("rename one of the fields".into());
                    }
                }
            }
        }
    }

    /// `partition_by` names another field of the model itself (not of a struct), a required
    /// `string`, `int`, `bool` or enum field that was not renamed, on an index whose field was
    /// not renamed either (the scripts read both fields by their names).
    fn check_partition(&mut self, m: &Model, depth: usize, path: &str, field: &Field, by: &str) {
        let span = field.span;
        if depth > 0 {
            self.error(
                span,
                format!("the index on `{path}` of model `{}` is partitioned, but partitioned indexes are declared on fields of the model itself, not of a struct", m.name),
            );
            return;
        }
        let Some(target) = m.fields.iter().find(|f| f.name == by) else {
            self.error(
                span,
                format!("`partition_by: {by}` names no field of model `{}`", m.name),
            )
            .help = Some("name a `string`, `int`, `bool` or enum field of the model".into());
            return;
        };
        let allowed = matches!(
            target.ty,
            Type::String | Type::Int | Type::Bool | Type::Enum(_)
        );
        if target.name == field.name || !allowed {
            self.error(
                span,
                format!(
                    "the index on `{path}` cannot be partitioned by `{by}` (of type `{}`)",
                    target.ty.schema_name()
                ),
            )
            .help = Some(
                "partition by another field, a required `string`, `int`, `bool` or enum".into(),
            );
            return;
        }
        if field.renamed_from.is_some() || target.renamed_from.is_some() {
            self.error(
                span,
                format!("the partitioned index on `{path}` involves a renamed field (`{path}` or `{by}`)"),
            )
            .help = Some("drop the partition, or the rename (rebuild the index with `reindex` first)".into());
        }
    }

    /// `renamed_from` must not name a field that still exists in the same model or struct (reads
    /// would not know which value is meant), nor one another field was renamed from.
    pub(super) fn check_renames(&mut self, schema: &Schema) {
        let owners = schema
            .models
            .iter()
            .map(|m| (&m.name, &m.fields))
            .chain(schema.structs.iter().map(|s| (&s.name, &s.fields)));
        for (owner, fields) in owners {
            for (i, f) in fields.iter().enumerate() {
                let Some(old) = &f.renamed_from else {
                    continue;
                };
                let clash = fields.iter().any(|g| g.name == *old)
                    || fields[..i]
                        .iter()
                        .any(|g| g.renamed_from.as_ref() == Some(old));
                if clash {
                    self.error(
                        f.span,
                        format!("`{owner}.{}` is renamed from `{old}`, which is still a field name (or another field's old name)", f.name),
                    )
                    .help = Some("an old name must be free: it is where instances written before the rename keep the value".into());
                }
            }
        }
    }

    /// Two models must not share a prefix, nor may one prefix be a `:`-prefix of another
    /// (`game` and `game:idx` could produce the same index key).
    pub(super) fn check_prefixes(&mut self, schema: &Schema) {
        let mut models: Vec<&Model> = schema.models.iter().collect();
        models.sort_by_key(|m| (m.span.file, m.span.start));
        for (i, m) in models.iter().enumerate() {
            for other in &models[..i] {
                let clash = m.prefix == other.prefix
                    || m.prefix.starts_with(&format!("{}:", other.prefix))
                    || other.prefix.starts_with(&format!("{}:", m.prefix));
                if clash {
                    self.error(m.span, format!("key prefix `{}` of model `{}` clashes with prefix `{}` of model `{}`", m.prefix, m.name, other.prefix, other.name))
                        .help = Some("give each model its own prefix with `prefix:`; one may not start with another followed by `:`".into());
                }
            }
        }
    }
}

/// Depth-first search for `target` reachable through struct (or optional struct) fields.
fn find_cycle(
    target: &str,
    s: &crate::ir::Struct,
    by_name: &BTreeMap<&str, &crate::ir::Struct>,
    path: &mut Vec<String>,
) -> Option<(Span, Vec<String>)> {
    for f in &s.fields {
        let inner = match &f.ty {
            Type::Struct(n) => n,
            Type::Optional(t) => match t.as_ref() {
                Type::Struct(n) => n,
                _ => continue,
            },
            _ => continue,
        };
        if path.len() > by_name.len() + 1 {
            return None;
        }
        let step = format!("{}.{}", s.name, f.name);
        if inner == target {
            let mut trail: Vec<String> = path[1..].to_vec();
            trail.push(step);
            trail.push(target.to_string());
            return Some((f.span, trail));
        }
        if let Some(next) = by_name.get(inner.as_str()) {
            path.push(step);
            if let Some((_, trail)) = find_cycle(target, next, by_name, path) {
                return Some((f.span, trail));
            }
            path.pop();
        }
    }
    None
}
