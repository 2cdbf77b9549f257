//! The comparison behind [`review`](super::review): declarations matched by name, fields matched
//! by name (or by `renamed_from`), each difference judged per direction.

use std::collections::BTreeMap;

use super::rules::{self, Rule};
use super::{Finding, Mode, Report, Severity, Side, locate};
use crate::diagnostic::Span;
use crate::ir::{Field, Key, Model, Schema, Type};

/// Which side a finding's position is on.
#[derive(Clone, Copy)]
enum At {
    Old(Span),
    New(Span),
}

struct Collector<'s> {
    old: &'s Side,
    new: &'s Side,
    mode: Mode,
    findings: Vec<(bool, Finding)>,
}

impl Collector<'_> {
    /// Records a change; `backward`/`forward` say whether each direction still reads correctly,
    /// `base` is its severity when it does.
    fn add(
        &mut self,
        rule: Rule,
        at: At,
        backward: bool,
        forward: bool,
        base: Severity,
        message: String,
    ) {
        let compatible = match self.mode {
            Mode::Backward => backward,
            Mode::Forward => forward,
            Mode::Full => backward && forward,
        };
        let severity = if compatible { base } else { Severity::Breaking };
        let (is_new, location) = match at {
            At::Old(span) => (false, locate(&self.old.sources, span)),
            At::New(span) => (true, locate(&self.new.sources, span)),
        };
        let finding = Finding {
            rule,
            severity,
            backward,
            forward,
            message,
            location,
        };
        self.findings.push((is_new, finding));
    }
}

pub(super) fn compare(old: &Side, new: &Side, mode: Mode) -> Report {
    let mut c = Collector {
        old,
        new,
        mode,
        findings: Vec::new(),
    };
    let (o, n) = (&old.schema, &new.schema);
    compare_enums(&mut c, o, n);
    compare_structs(&mut c, o, n);
    compare_models(&mut c, o, n);
    version_discipline(&mut c, o, n);
    // New side first, then old, each in file order.
    c.findings.sort_by(|(a_new, a), (b_new, b)| {
        b_new
            .cmp(a_new)
            .then_with(|| a.location.path.cmp(&b.location.path))
            .then(a.location.line.cmp(&b.location.line))
            .then(a.location.column.cmp(&b.location.column))
            .then(a.rule.id.cmp(b.rule.id))
    });
    Report {
        mode,
        old_version: o.version,
        new_version: n.version,
        findings: c.findings.into_iter().map(|(_, f)| f).collect(),
    }
}

fn by_name<T>(items: &[T], name: impl Fn(&T) -> &str) -> BTreeMap<&str, &T> {
    items.iter().map(|i| (name(i), i)).collect()
}

fn compare_enums(c: &mut Collector, o: &Schema, n: &Schema) {
    let (old, new) = (
        by_name(&o.enums, |e| &e.name),
        by_name(&n.enums, |e| &e.name),
    );
    for (name, e) in &new {
        let Some(before) = old.get(name) else {
            c.add(
                rules::ENUM_ADDED,
                At::New(e.span),
                true,
                true,
                Severity::Info,
                format!("enum `{name}` added"),
            );
            continue;
        };
        for v in &e.variants {
            if !before.variants.iter().any(|b| b.name == v.name) {
                c.add(
                    rules::VARIANT_ADDED,
                    At::New(v.span),
                    true,
                    false,
                    Severity::Info,
                    format!("variant `{}` added to enum `{name}`: old code cannot read instances that store it", v.name),
                );
            }
        }
        for v in &before.variants {
            if !e.variants.iter().any(|n| n.name == v.name) {
                c.add(
                    rules::VARIANT_REMOVED,
                    At::Old(v.span),
                    false,
                    true,
                    Severity::Info,
                    format!("variant `{}` removed from enum `{name}`: instances storing it can no longer be read", v.name),
                );
            }
        }
    }
    for (name, e) in &old {
        if !new.contains_key(name) {
            c.add(
                rules::ENUM_REMOVED,
                At::Old(e.span),
                true,
                true,
                Severity::Info,
                format!("enum `{name}` removed"),
            );
        }
    }
}

fn compare_structs(c: &mut Collector, o: &Schema, n: &Schema) {
    let (old, new) = (
        by_name(&o.structs, |s| &s.name),
        by_name(&n.structs, |s| &s.name),
    );
    for (name, s) in &new {
        match old.get(name) {
            None => c.add(
                rules::STRUCT_ADDED,
                At::New(s.span),
                true,
                true,
                Severity::Info,
                format!("struct `{name}` added"),
            ),
            Some(before) => compare_fields(
                c,
                &format!("struct `{name}`"),
                &before.fields,
                &s.fields,
                (o, n),
            ),
        }
    }
    for (name, s) in &old {
        if !new.contains_key(name) {
            c.add(
                rules::STRUCT_REMOVED,
                At::Old(s.span),
                true,
                true,
                Severity::Info,
                format!("struct `{name}` removed"),
            );
        }
    }
}

fn compare_models(c: &mut Collector, o: &Schema, n: &Schema) {
    let (old, new) = (
        by_name(&o.models, |m| &m.name),
        by_name(&n.models, |m| &m.name),
    );
    for (name, m) in &new {
        let Some(before) = old.get(name) else {
            // A renamed model whose prefix was pinned keeps its data.
            let kept = old
                .values()
                .find(|b| b.prefix == m.prefix && !new.contains_key(b.name.as_str()));
            let note = kept.map_or(String::new(), |b| {
                format!(
                    " (it takes over the data of model `{}`, whose prefix it pins)",
                    b.name
                )
            });
            c.add(
                rules::MODEL_ADDED,
                At::New(m.span),
                true,
                true,
                Severity::Info,
                format!("model `{name}` added{note}"),
            );
            continue;
        };
        compare_model(c, name, before, m, (o, n));
    }
    for (name, m) in &old {
        if !new.contains_key(name) {
            let kept = new.values().any(|n| n.prefix == m.prefix);
            if !kept {
                c.add(
                    rules::MODEL_REMOVED,
                    At::Old(m.span),
                    true,
                    true,
                    Severity::Warning,
                    format!(
                        "model `{name}` removed: its stored instances (prefix `{}`) are orphaned",
                        m.prefix
                    ),
                );
            }
        }
    }
}

fn compare_model(
    c: &mut Collector,
    name: &str,
    before: &Model,
    m: &Model,
    schemas: (&Schema, &Schema),
) {
    if before.prefix != m.prefix {
        c.add(
            rules::PREFIX_CHANGED,
            At::New(m.span),
            false,
            false,
            Severity::Info,
            format!("model `{name}`: key prefix `{}` became `{}`: existing instances are unreachable (pin `prefix: {}` to keep them)", before.prefix, m.prefix, before.prefix),
        );
    }
    if key_text(&before.key) != key_text(&m.key) {
        c.add(
            rules::KEY_CHANGED,
            At::New(m.span),
            false,
            false,
            Severity::Info,
            format!(
                "model `{name}`: key {} became {}: existing instances are stored under other keys",
                key_text(&before.key),
                key_text(&m.key)
            ),
        );
        // Every field that refers to the model holds keys of the old kind.
        let new = schemas.1;
        let fields = new
            .models
            .iter()
            .map(|o| (&o.name, &o.fields))
            .chain(new.structs.iter().map(|s| (&s.name, &s.fields)));
        for (owner, fields) in fields {
            for f in fields.iter().filter(|f| refers_to(&f.ty, name)) {
                c.add(
                    rules::REF_TARGET_KEY_CHANGED,
                    At::New(f.span),
                    false,
                    false,
                    Severity::Info,
                    format!(
                        "`{owner}.{}` refers to `{name}`, whose key changed: stored references hold keys of the old kind",
                        f.name
                    ),
                );
            }
        }
    }
    let layout = |m: &Model| format!("buckets {} in slot group `{}`", m.buckets, m.slot_group);
    // A changed prefix moves the default slot group too; RS031 says it already.
    let group_moved = before.slot_group != m.slot_group && before.prefix == m.prefix;
    if before.buckets != m.buckets || group_moved {
        c.add(
            rules::LAYOUT_CHANGED,
            At::New(m.span),
            false,
            false,
            Severity::Info,
            format!(
                "model `{name}`: {} became {}: existing instances and index entries are stored under other keys",
                layout(before),
                layout(m)
            ),
        );
    }
    if before.ttl_refresh != m.ttl_refresh && before.ttl_seconds == m.ttl_seconds {
        c.add(
            rules::TTL_CHANGED,
            At::New(m.span),
            true,
            true,
            Severity::Warning,
            format!(
                "model `{name}`: ttl refresh {} became {}: instances expire at the time their last refresh set",
                before.ttl_refresh.word(),
                m.ttl_refresh.word()
            ),
        );
    }
    if before.ttl_seconds != m.ttl_seconds {
        // Without a ttl the scripts keep no memo of index entries, so instances that still
        // expire would leave theirs behind.
        let indexed = crate::plan::ModelPlan::new(schemas.1, m)
            .indexes()
            .next()
            .is_some();
        let leftovers = if m.ttl_seconds.is_none() && indexed {
            "; those that still expire leave their index entries behind: run `rapyer-gen reindex` once they have"
        } else {
            ""
        };
        c.add(
            rules::TTL_CHANGED,
            At::New(m.span),
            true,
            true,
            Severity::Warning,
            format!("model `{name}`: ttl {} became {}: existing instances keep their expiry until saved again{leftovers}", ttl_text(before.ttl_seconds), ttl_text(m.ttl_seconds)),
        );
    }
    compare_fields(
        c,
        &format!("model `{name}`"),
        &before.fields,
        &m.fields,
        schemas,
    );
}

fn key_text(k: &Key) -> String {
    match k {
        Key::GeneratedUuid { field } => format!("`{field}` (generated uuid)"),
        Key::Natural { field } => format!("`{field}`"),
    }
}

fn ttl_text(t: Option<u64>) -> String {
    t.map_or("none".into(), |s| format!("{s}s"))
}

/// Whether `ty` holds references to `model`, directly or inside an optional or a container.
fn refers_to(ty: &Type, model: &str) -> bool {
    match ty {
        Type::Ref(target) => target == model,
        Type::Optional(t) | Type::List(t) | Type::Set(t) | Type::Map(t) => refers_to(t, model),
        _ => false,
    }
}

/// Whether data stored as `from` reads as `to` through the codecs.
fn widens(from: &Type, to: &Type) -> bool {
    use Type::*;
    matches!(
        (from, to),
        (Int, Float)
            | (
                Int | Float | Bool | DateTime | Uuid | Enum(_) | Ref(_),
                String
            )
    )
}

fn compare_fields(
    c: &mut Collector,
    owner: &str,
    old: &[Field],
    new: &[Field],
    (os, ns): (&Schema, &Schema),
) {
    let mut matched_old: Vec<&str> = Vec::new();
    let mut added: Vec<&Field> = Vec::new();
    for f in new {
        let same = old.iter().find(|b| b.name == f.name);
        let renamed = f
            .renamed_from
            .as_deref()
            .and_then(|from| old.iter().find(|b| b.name == from))
            .filter(|_| same.is_none());
        match (same, renamed) {
            (Some(before), _) => {
                matched_old.push(&before.name);
                compare_field(c, owner, before, f);
            }
            (None, Some(before)) => {
                matched_old.push(&before.name);
                // Old code looks for the old name: it reads its default (or fails) instead of the
                // value the new code stored under the new name.
                c.add(
                    rules::FIELD_RENAMED,
                    At::New(f.span),
                    true,
                    false,
                    Severity::Info,
                    format!(
                        "{owner}: field `{}` renamed to `{}`: new code reads the old name; old code does not see values stored under the new one",
                        before.name, f.name
                    ),
                );
                if let (Some(_), Some(k)) = (before.index, f.index) {
                    c.add(
                        rules::RENAMED_INDEX,
                        At::New(f.span),
                        true,
                        true,
                        Severity::Warning,
                        format!(
                            "{owner}: the `{}` index follows `{}` now: it is empty until `reindex` fills it (reading `{}` from instances written before the rename); then delete the index key of `{}`",
                            k.name(),
                            f.name,
                            before.name,
                            before.name
                        ),
                    );
                }
                compare_field(c, owner, before, f);
            }
            (None, None) => {
                added.push(f);
                if let Some(k) = f.index {
                    c.add(
                        rules::INDEX_ADDED,
                        At::New(f.span),
                        true,
                        true,
                        Severity::Warning,
                        format!(
                            "{owner}: new field `{}` has a `{}` index: existing instances lack the field, so they enter the index only when they are saved again",
                            f.name,
                            k.name()
                        ),
                    );
                }
                let backward = crate::plan::fills_itself(ns, f);
                c.add(
                    rules::FIELD_ADDED,
                    At::New(f.span),
                    backward,
                    true,
                    if backward {
                        Severity::Info
                    } else {
                        Severity::Warning
                    },
                    format!(
                        "{owner}: field `{}` ({}) added{}",
                        f.name,
                        f.ty.schema_name(),
                        if backward {
                            ""
                        } else {
                            ": instances written before lack it and it has no default"
                        }
                    ),
                );
            }
        }
    }
    for before in old {
        if matched_old.contains(&before.name.as_str()) {
            continue;
        }
        let forward = crate::plan::fills_itself(os, before);
        c.add(
            rules::FIELD_REMOVED,
            At::Old(before.span),
            true,
            forward,
            Severity::Info,
            format!(
                "{owner}: field `{}` removed{}",
                before.name,
                if forward {
                    ""
                } else {
                    ": old code cannot read instances written without it"
                }
            ),
        );
        if let Some(f) = added.iter().find(|f| f.ty == before.ty) {
            c.add(
                rules::POSSIBLE_RENAME,
                At::New(f.span),
                true,
                true,
                Severity::Warning,
                format!(
                    "{owner}: `{}` removed and `{}` added with the same type: if this is a rename, add `renamed_from: {}` or the stored values are lost",
                    before.name, f.name, before.name
                ),
            );
        }
    }
}

fn compare_field(c: &mut Collector, owner: &str, before: &Field, f: &Field) {
    let name = &f.name;
    let at = At::New(f.span);
    match (&before.ty, &f.ty) {
        (a, b) if a == b => {}
        (Type::Optional(inner), b) if **inner == *b => {
            let backward = f.default.is_some();
            c.add(
                rules::FIELD_MADE_REQUIRED,
                at,
                backward,
                true,
                Severity::Info,
                format!(
                    "{owner}: field `{name}` became required ({} -> {}){}",
                    before.ty.schema_name(),
                    f.ty.schema_name(),
                    if backward {
                        "; instances without a value read its default"
                    } else {
                        ": instances without a value cannot be read (no default)"
                    }
                ),
            );
        }
        (a, Type::Optional(inner)) if **inner == *a => {
            let forward = before.default.is_some();
            c.add(
                rules::FIELD_MADE_OPTIONAL,
                at,
                true,
                forward,
                Severity::Info,
                format!(
                    "{owner}: field `{name}` became optional ({} -> {}){}",
                    before.ty.schema_name(),
                    f.ty.schema_name(),
                    if forward {
                        ""
                    } else {
                        ": old code cannot read instances without a value"
                    }
                ),
            );
        }
        (a, b) => {
            let backward = widens(a, b);
            let forward = widens(b, a);
            c.add(
                rules::FIELD_TYPE_CHANGED,
                at,
                backward,
                forward,
                Severity::Info,
                format!(
                    "{owner}: field `{name}` changed type from {} to {}{}",
                    a.schema_name(),
                    b.schema_name(),
                    match (backward, forward) {
                        (true, true) => "",
                        (true, false) => " (new code reads old values, a widening the codecs support; old code cannot read new ones)",
                        (false, true) => ": new code cannot read old values (old code reads new ones)",
                        (false, false) => ": stored values do not decode as the new type",
                    }
                ),
            );
        }
    }
    match (&before.default, &f.default) {
        (None, Some(d)) => c.add(rules::DEFAULT_ADDED, at, true, true, Severity::Info, format!("{owner}: field `{name}` gets the default {}", crate::plan::default_text(d))),
        // Optional fields read `None` when missing: their default only mattered to constructors.
        (Some(_), None) if matches!(f.ty, Type::Optional(_)) => {}
        (Some(d), None) => {
            // Data written by the old code has the field; only older instances lacking it break.
            c.add(
                rules::DEFAULT_REMOVED,
                at,
                true,
                true,
                Severity::Warning,
                format!("{owner}: field `{name}` lost its default {}: instances that lack the field can no longer be read", crate::plan::default_text(d)),
            )
        }
        (Some(a), Some(b)) if a != b => c.add(
            rules::DEFAULT_CHANGED,
            at,
            true,
            true,
            Severity::Warning,
            format!("{owner}: default of `{name}` changed from {} to {}: instances that lack the field read the new one", crate::plan::default_text(a), crate::plan::default_text(b)),
        ),
        _ => {}
    }
    match (before.index, f.index) {
        (None, Some(k)) => c.add(
            rules::INDEX_ADDED,
            at,
            true,
            true,
            Severity::Warning,
            format!("{owner}: `{}` index added on `{name}`: run `reindex` to index existing instances", k.name()),
        ),
        (Some(k), None) => c.add(
            rules::INDEX_REMOVED,
            At::Old(before.span),
            true,
            true,
            Severity::Info,
            format!("{owner}: `{}` index removed from `{name}`: its Redis key can be deleted", k.name()),
        ),
        (Some(a), Some(b)) if a != b => c.add(
            rules::INDEX_CHANGED,
            at,
            true,
            true,
            Severity::Warning,
            format!("{owner}: index on `{name}` changed from `{}` to `{}`: run `reindex`, then delete the old index key", a.name(), b.name()),
        ),
        (Some(_), Some(b)) if before.partition_by != f.partition_by => {
            let partition = |by: &Option<String>| match by {
                Some(by) => format!("partitioned by `{by}`"),
                None => "not partitioned".to_string(),
            };
            c.add(
                rules::INDEX_CHANGED,
                at,
                true,
                true,
                Severity::Warning,
                format!(
                    "{owner}: the `{}` index on `{name}` is {} now (it was {}): run `reindex`, then delete the old index keys",
                    b.name(),
                    partition(&f.partition_by),
                    partition(&before.partition_by),
                ),
            )
        }
        _ => {}
    }
}

fn version_discipline(c: &mut Collector, o: &Schema, n: &Schema) {
    let span = n.version_span;
    let at = |c: &Collector| match span {
        Some(s) => At::New(s),
        None => At::New(
            c.new
                .schema
                .models
                .first()
                .map(|m| m.span)
                .or_else(|| c.new.schema.structs.first().map(|s| s.span))
                .unwrap_or_default(),
        ),
    };
    let breaking = c
        .findings
        .iter()
        .any(|(_, f)| f.severity == Severity::Breaking);
    let changed = !c.findings.is_empty() || !same_schema(o, n);
    if n.version < o.version {
        let where_ = at(c);
        c.add(
            rules::VERSION_DECREASED,
            where_,
            true,
            true,
            Severity::Error,
            format!("version went down from {} to {}", o.version, n.version),
        );
    } else if breaking && n.version == o.version {
        let where_ = at(c);
        c.add(
            rules::VERSION_NOT_BUMPED,
            where_,
            true,
            true,
            Severity::Error,
            format!(
                "incompatible changes ({} mode) but the version stays {}: bump it",
                c.mode.name(),
                n.version
            ),
        );
    } else if !changed && n.version != o.version {
        let where_ = at(c);
        c.add(
            rules::VERSION_BUMP_WITHOUT_CHANGE,
            where_,
            true,
            true,
            Severity::Warning,
            format!(
                "version {} -> {} without any schema change",
                o.version, n.version
            ),
        );
    }
}

/// Equal apart from positions and docs (which findings do not cover).
fn same_schema(o: &Schema, n: &Schema) -> bool {
    let strip = |s: &Schema| {
        let mut s = s.clone();
        s.version = 0;
        s.version_span = None;
        for e in &mut s.enums {
            e.span = Span::default();
            e.doc = None;
            for v in &mut e.variants {
                v.span = Span::default();
            }
        }
        let fields = |fs: &mut Vec<Field>| {
            for f in fs {
                f.span = Span::default();
                f.doc = None;
            }
        };
        for st in &mut s.structs {
            st.span = Span::default();
            st.doc = None;
            fields(&mut st.fields);
        }
        for m in &mut s.models {
            m.span = Span::default();
            m.doc = None;
            fields(&mut m.fields);
        }
        s
    };
    strip(o) == strip(n)
}
