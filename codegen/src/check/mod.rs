//! Stage 2, check: resolve names, validate everything, and build the IR.
//!
//! Every problem becomes a [`Diagnostic`]; checking goes on after an error so that one run reports
//! all of them. The IR is returned only when there is no error at all.

mod names;
mod types;

use std::collections::HashMap;

pub use names::{is_keyword, module_name, variant_ident, version_order};

use crate::diagnostic::{Diagnostic, SourceMap, Span};
use crate::ir::{Enum, Field, IndexKind, Schema, Struct, Type, Value, Variant};
use crate::load::{self, LoadedFile, Node, NodeKind};
use types::TypeExpr;

const TOP_KEYS: &[&str] = &["version", "enums", "structs", "models"];
const ENUM_KEYS: &[&str] = &["doc", "variants"];
const STRUCT_KEYS: &[&str] = &["doc", "fields"];
const MODEL_KEYS: &[&str] = &[
    "doc",
    "key",
    "prefix",
    "ttl",
    "buckets",
    "slot_group",
    "fields",
];
const FIELD_KEYS: &[&str] = &["type", "default", "doc", "index", "renamed_from"];
const KEY_KEYS: &[&str] = &["generate", "field"];
const TTL_KEYS: &[&str] = &["after", "refresh"];
const INDEX_KEYS: &[&str] = &["sorted", "unique", "lookup", "partition_by"];
const BUILTINS: &[&str] = &[
    "bool", "int", "float", "string", "bytes", "datetime", "uuid", "json", "optional", "list",
    "set", "map", "ref", "zset",
];

/// Checks loaded files. On success returns the IR; otherwise every error found.
pub fn check(files: &[LoadedFile], sources: &SourceMap) -> Result<Schema, Vec<Diagnostic>> {
    let mut checker = Checker {
        sources,
        diags: Vec::new(),
        decls: Vec::new(),
    };
    let (version, version_span) = checker.collect(files).unzip();
    checker.check_unique_names();
    let kinds: HashMap<String, DeclKind> = checker
        .decls
        .iter()
        .map(|d| (d.name.clone(), d.kind))
        .collect();
    let mut schema = Schema {
        version: version.unwrap_or(1),
        version_span,
        enums: vec![],
        structs: vec![],
        models: vec![],
    };
    for i in 0..checker.decls.len() {
        let decl = checker.decls[i].clone();
        match decl.kind {
            DeclKind::Enum => schema.enums.extend(checker.check_enum(&decl)),
            DeclKind::Struct => schema.structs.extend(checker.check_struct(&decl, &kinds)),
            DeclKind::Model => schema.models.extend(checker.check_model(&decl, &kinds)),
        }
    }
    checker.check_struct_cycles(&schema);
    checker.check_generated_names(&schema);
    checker.check_prefixes(&schema);
    checker.check_indexes(&schema);
    checker.check_renames(&schema);
    let mut diags = checker.diags;
    if diags.is_empty() {
        schema.enums.sort_by(|a, b| a.name.cmp(&b.name));
        schema.structs.sort_by(|a, b| a.name.cmp(&b.name));
        schema.models.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(schema)
    } else {
        diags.sort_by_key(|d| (d.span.file, d.span.start));
        diags.dedup();
        Err(diags)
    }
}

/// Loads and checks a whole schema directory in one call.
pub fn check_dir(dir: &std::path::Path) -> Result<(Schema, SourceMap), CheckError> {
    let mut sources = SourceMap::default();
    let ids = load::read_dir(dir, &mut sources)?;
    check_sources(ids, sources)
}

/// Parses and checks files already in `sources` (read from disk, or from a git revision).
pub fn check_sources(
    ids: Vec<crate::diagnostic::FileId>,
    sources: SourceMap,
) -> Result<(Schema, SourceMap), CheckError> {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for id in ids {
        match load::parse(id, &sources) {
            Ok(file) => files.push(file),
            Err(d) => diags.push(d),
        }
    }
    // Files that parsed are still checked, so their problems show up in the same run.
    match check(&files, &sources) {
        Ok(schema) if diags.is_empty() => Ok((schema, sources)),
        Ok(_) => Err(CheckError::Invalid(crate::Diagnostics {
            items: diags,
            sources,
        })),
        Err(more) => {
            diags.extend(more);
            diags.sort_by_key(|d| (d.span.file, d.span.start));
            Err(CheckError::Invalid(crate::Diagnostics {
                items: diags,
                sources,
            }))
        }
    }
}

/// Why a schema directory could not be turned into IR.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Files could not be read.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// The schemas have errors; each is in the diagnostics.
    #[error("{0}")]
    Invalid(crate::Diagnostics),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeclKind {
    Enum,
    Struct,
    Model,
}

impl DeclKind {
    fn noun(self) -> &'static str {
        match self {
            DeclKind::Enum => "enum",
            DeclKind::Struct => "struct",
            DeclKind::Model => "model",
        }
    }
}

/// A top-level declaration, before checking.
#[derive(Clone)]
struct Decl<'a> {
    kind: DeclKind,
    name: String,
    span: Span,
    node: &'a Node,
}

struct Checker<'a> {
    sources: &'a SourceMap,
    diags: Vec<Diagnostic>,
    decls: Vec<Decl<'a>>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(span, message));
        self.diags.last_mut().expect("just pushed")
    }

    /// The entries of a mapping; reports a non-mapping, unknown keys (when `allowed` is given) and
    /// duplicate keys. Duplicates after the first are dropped.
    fn entries(
        &mut self,
        node: &'a Node,
        what: &str,
        allowed: Option<&[&str]>,
    ) -> Vec<(&'a load::Key, &'a Node)> {
        let NodeKind::Map(entries) = &node.kind else {
            if node.kind != NodeKind::Null {
                self.error(
                    node.span,
                    format!("{what} must be a mapping, found {}", node.kind.describe()),
                );
            }
            return Vec::new();
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            if let Some(first) = seen.get(key.name.as_str()) {
                let line = first.line;
                self.error(key.span, format!("duplicate key `{}` in {what}", key.name))
                    .label = Some(format!("`{}` is already defined on line {line}", key.name));
                continue;
            }
            seen.insert(&key.name, key.span);
            if let Some(allowed) = allowed
                && !allowed.contains(&key.name.as_str())
            {
                let d = self.error(key.span, format!("unknown key `{}` in {what}", key.name));
                d.help = Some(
                    match names::did_you_mean(&key.name, allowed.iter().copied()) {
                        Some(s) => format!(
                            "did you mean `{s}`? (expected one of: {})",
                            allowed.join(", ")
                        ),
                        None => format!("expected one of: {}", allowed.join(", ")),
                    },
                );
                continue;
            }
            out.push((key, value));
        }
        out
    }

    fn string(&mut self, node: &'a Node, what: &str) -> Option<&'a str> {
        match &node.kind {
            NodeKind::Str(s) => Some(s),
            other => {
                self.error(
                    node.span,
                    format!("{what} must be a string, found {}", other.describe()),
                );
                None
            }
        }
    }

    fn doc(&mut self, entries: &[(&'a load::Key, &'a Node)]) -> Option<String> {
        let node = get(entries, "doc")?;
        self.string(node, "`doc`").map(|s| s.trim_end().to_string())
    }

    /// Reads the top level of every file: versions and declarations.
    fn collect(&mut self, files: &'a [LoadedFile]) -> Option<(u32, Span)> {
        let mut version: Option<(u32, Span)> = None;
        for file in files {
            let top = self.entries(&file.root, "the top level of a schema file", Some(TOP_KEYS));
            if let Some(node) = get(&top, "version") {
                match node.kind {
                    NodeKind::Int(v) if v >= 1 && v <= u32::MAX as i64 => {
                        let v = v as u32;
                        match version {
                            Some((first, span)) if first != v => {
                                let path = self.sources.path(span.file).display().to_string();
                                self.error(node.span, format!("version {v} differs from version {first} declared in {path}:{}", span.line))
                                    .help = Some("all files of a schema directory share one version".into());
                            }
                            Some(_) => {}
                            None => version = Some((v, node.span)),
                        }
                    }
                    _ => {
                        self.error(node.span, "`version` must be a positive integer");
                    }
                }
            }
            for (section, kind) in [
                ("enums", DeclKind::Enum),
                ("structs", DeclKind::Struct),
                ("models", DeclKind::Model),
            ] {
                let Some(node) = get(&top, section) else {
                    continue;
                };
                for (key, value) in self.entries(node, &format!("`{section}`"), None) {
                    self.decls.push(Decl {
                        kind,
                        name: key.name.clone(),
                        span: key.span,
                        node: value,
                    });
                }
            }
        }
        if version.is_none()
            && let Some(file) = files.first()
        {
            let span = Span {
                file: file.file,
                line: 1,
                column: 1,
                start: 0,
                len: 0,
            };
            self.error(span, "no file of the schema declares `version`")
                .help = Some("add `version: 1` at the top of one schema file".into());
        }
        version
    }

    /// Type names: valid, not keywords, unique across all files and kinds.
    fn check_unique_names(&mut self) {
        let mut first: HashMap<String, (DeclKind, Span)> = HashMap::new();
        let decls: Vec<(DeclKind, String, Span)> = self
            .decls
            .iter()
            .map(|d| (d.kind, d.name.clone(), d.span))
            .collect();
        for (kind, name, span) in decls {
            if !names::is_type_name(&name) || names::is_keyword(&name) {
                let suggestion = names::suggest_type_name(&name);
                let d = self.error(
                    span,
                    format!("`{name}` is not a valid {} name", kind.noun()),
                );
                d.help = Some(
                    if names::is_type_name(&suggestion) && !names::is_keyword(&suggestion) {
                        format!("type names are UpperCamelCase ASCII, such as `{suggestion}`")
                    } else {
                        "type names are UpperCamelCase ASCII and not Rust keywords, such as `PlayerStats`".into()
                    },
                );
            }
            if let Some((first_kind, first_span)) = first.get(&name) {
                let path = self.sources.path(first_span.file).display().to_string();
                let line = first_span.line;
                let noun = first_kind.noun();
                self.error(span, format!("duplicate name `{name}`")).label = Some(format!(
                    "{noun} `{name}` is already declared at {path}:{line}"
                ));
            } else {
                first.insert(name, (kind, span));
            }
        }
    }

    fn check_enum(&mut self, decl: &Decl<'a>) -> Option<Enum> {
        let entries = self.entries(decl.node, &format!("enum `{}`", decl.name), Some(ENUM_KEYS));
        let doc = self.doc(&entries);
        let Some(node) = get(&entries, "variants") else {
            self.error(decl.span, format!("enum `{}` has no `variants`", decl.name));
            return None;
        };
        let NodeKind::Seq(items) = &node.kind else {
            self.error(
                node.span,
                format!(
                    "`variants` must be a list of names, found {}",
                    node.kind.describe()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(node.span, format!("enum `{}` has no variants", decl.name));
        }
        let mut variants: Vec<Variant> = Vec::new();
        for item in items {
            let Some(name) = self.string(item, "a variant") else {
                continue;
            };
            if !names::is_variant_name(name) {
                self.error(item.span, format!("`{name}` is not a valid variant name"))
                    .help = Some(
                    "variants are ASCII letters, digits and `_`, starting with a letter".into(),
                );
                continue;
            }
            let rust_name = names::variant_ident(name);
            if names::is_keyword(&rust_name) {
                self.error(
                    item.span,
                    format!("variant `{name}` would be the Rust keyword `{rust_name}`"),
                );
                continue;
            }
            if let Some(other) = variants
                .iter()
                .find(|v| v.name == name || v.rust_name == rust_name)
            {
                let msg = if other.name == name {
                    format!("duplicate variant `{name}`")
                } else {
                    format!(
                        "variants `{}` and `{name}` are both `{rust_name}` in Rust",
                        other.name
                    )
                };
                self.error(item.span, msg);
                continue;
            }
            variants.push(Variant {
                name: name.to_string(),
                rust_name,
                span: item.span,
            });
        }
        Some(Enum {
            name: decl.name.clone(),
            doc,
            variants,
            span: decl.span,
        })
    }

    fn check_struct(
        &mut self,
        decl: &Decl<'a>,
        kinds: &HashMap<String, DeclKind>,
    ) -> Option<Struct> {
        let entries = self.entries(
            decl.node,
            &format!("struct `{}`", decl.name),
            Some(STRUCT_KEYS),
        );
        let doc = self.doc(&entries);
        let fields = self.check_fields(decl, &entries, kinds);
        // A struct's handle reads and writes the whole value with `get` and `set`.
        for f in fields.iter().filter(|f| f.name == "get" || f.name == "set") {
            self.error(
                f.span,
                format!(
                    "struct `{}` cannot have a field named `{}`: its handle reads and writes the whole struct with `get` and `set`",
                    decl.name, f.name
                ),
            )
            .help = Some("rename the field".into());
        }
        for f in fields.iter().filter(|f| matches!(f.ty, Type::ZSet(_))) {
            self.error(
                f.span,
                format!(
                    "struct `{}` cannot have a `zset` field (`{}`): a zset is a model field's whole type",
                    decl.name, f.name
                ),
            )
            .help = Some("move the field to the model".into());
        }
        Some(Struct {
            name: decl.name.clone(),
            doc,
            fields,
            span: decl.span,
        })
    }

    fn check_fields(
        &mut self,
        decl: &Decl<'a>,
        entries: &[(&'a load::Key, &'a Node)],
        kinds: &HashMap<String, DeclKind>,
    ) -> Vec<Field> {
        let Some(node) = get(entries, "fields") else {
            self.error(
                decl.span,
                format!("{} `{}` has no `fields`", decl.kind.noun(), decl.name),
            );
            return Vec::new();
        };
        let what = format!("the fields of `{}`", decl.name);
        let field_entries = self.entries(node, &what, None);
        if field_entries.is_empty() && matches!(node.kind, NodeKind::Map(_) | NodeKind::Null) {
            self.error(
                node.span,
                format!("{} `{}` has no fields", decl.kind.noun(), decl.name),
            );
        }
        field_entries
            .into_iter()
            .filter_map(|(key, value)| self.check_field(key, value, kinds))
            .collect()
    }

    fn check_field(
        &mut self,
        key: &'a load::Key,
        node: &'a Node,
        kinds: &HashMap<String, DeclKind>,
    ) -> Option<Field> {
        let name = key.name.as_str();
        let mut name_ok = true;
        if !names::is_field_name(name) {
            let suggestion = names::suggest_field_name(name);
            self.error(key.span, format!("`{name}` is not a valid field name"))
                .help = Some(if names::is_field_name(&suggestion) {
                format!(
                    "field names are snake_case ASCII starting with a letter, such as `{suggestion}`"
                )
            } else {
                "field names are snake_case ASCII starting with a letter".into()
            });
            name_ok = false;
        } else if names::is_keyword(name) {
            self.error(key.span, format!("field name `{name}` is a Rust keyword"))
                .help = Some(format!(
                "rename the field, for example `{name}_`... or better a word that says what it holds; keywords are rejected, not escaped"
            ));
            name_ok = false;
        }
        let (type_node, entries) = match &node.kind {
            NodeKind::Str(_) => (node, Vec::new()),
            NodeKind::Map(_) => {
                let entries = self.entries(node, &format!("field `{name}`"), Some(FIELD_KEYS));
                let Some(t) = get(&entries, "type") else {
                    self.error(key.span, format!("field `{name}` has no `type`"));
                    return None;
                };
                (t, entries)
            }
            other => {
                self.error(
                    node.span,
                    format!(
                        "field `{name}` must be a type name or a mapping with `type`, found {}",
                        other.describe()
                    ),
                );
                return None;
            }
        };
        let ty = self.field_type(type_node, kinds);
        let doc = self.doc(&entries);
        let default = match (get(&entries, "default"), &ty) {
            (Some(d), Some(ty)) => self.check_default(ty, d),
            _ => None,
        };
        let (index, partition_by) = match (get(&entries, "index"), &ty) {
            (Some(i), Some(ty)) => match self.check_index(ty, i) {
                Some((kind, partition_by)) => (Some(kind), partition_by),
                None => (None, None),
            },
            _ => (None, None),
        };
        let renamed_from = get(&entries, "renamed_from").and_then(|node| {
            let old = self.string(node, "`renamed_from`")?;
            let hashed = ty.as_ref().is_some_and(|t| !t.is_container() && !matches!(t, Type::Struct(_)));
            if !hashed {
                self.error(
                    node.span,
                    "`renamed_from` works on fields stored in the instance hash (scalars and optionals), not on containers or structs",
                );
                return None;
            }
            if !names::is_field_name(old) || old == name {
                self.error(
                    node.span,
                    format!("`renamed_from: {old}` must name the field's previous name, a different field name"),
                );
                return None;
            }
            Some(old.to_string())
        });
        let ty = ty?;
        name_ok.then(|| Field {
            name: name.to_string(),
            doc,
            ty,
            default,
            index,
            partition_by,
            renamed_from,
            span: key.span,
        })
    }

    /// Parses and resolves the type written in `node` (a string).
    fn field_type(&mut self, node: &'a Node, kinds: &HashMap<String, DeclKind>) -> Option<Type> {
        let text = self.string(node, "a type")?;
        let base = self.scalar_inner(node.span);
        match types::parse(text) {
            Ok(expr) => self.resolve(&expr, base, kinds),
            Err(e) => {
                self.error(
                    base.sub(e.offset, e.len),
                    format!("invalid type `{text}`: {}", e.message),
                );
                None
            }
        }
    }

    /// The span of a scalar's text, inside its quotes if it is quoted.
    fn scalar_inner(&self, span: Span) -> Span {
        let text = &self.sources.file(span.file).text;
        match text.as_bytes().get(span.start) {
            Some(b'"' | b'\'') => span.sub(1, span.len.saturating_sub(2)),
            _ => span,
        }
    }

    fn resolve(
        &mut self,
        e: &TypeExpr,
        base: Span,
        kinds: &HashMap<String, DeclKind>,
    ) -> Option<Type> {
        let at = base.sub(e.offset, e.name.len());
        let arity = match e.name.as_str() {
            "optional" | "list" | "set" | "ref" | "zset" => 1,
            "map" => 2,
            _ => 0,
        };
        if e.args.len() != arity {
            let msg = match arity {
                0 => format!("`{}` takes no type arguments", e.name),
                1 if e.name == "ref" => "`ref` takes one model, as in `ref<Player>`".to_string(),
                1 => format!(
                    "`{}` takes one type argument, as in `{}<int>`",
                    e.name, e.name
                ),
                _ => "`map` takes two type arguments, as in `map<string, int>`".to_string(),
            };
            self.error(at, msg);
            return None;
        }
        let mut args = Vec::new();
        // A reference's argument names a model, which is no field type of its own.
        if e.name != "ref" {
            for a in &e.args {
                args.push(self.resolve(a, base, kinds));
            }
        }
        let arg_span = |i: usize| base.sub(e.args[i].offset, e.args[i].name.len());
        let ty = match e.name.as_str() {
            "bool" => Type::Bool,
            "int" => Type::Int,
            "float" => Type::Float,
            "string" => Type::String,
            "bytes" => Type::Bytes,
            "datetime" => Type::DateTime,
            "uuid" => Type::Uuid,
            "json" => Type::Json,
            "optional" => {
                let inner = args.pop()??;
                if matches!(inner, Type::Optional(_)) || inner.is_container() {
                    self.error(
                        arg_span(0),
                        format!("`optional<{}>` is not supported", inner.schema_name()),
                    )
                    .help = Some(if inner.is_container() {
                        "an empty container already means \"nothing\": use the container type alone"
                            .into()
                    } else {
                        "one `optional` is enough".into()
                    });
                    return None;
                }
                Type::Optional(Box::new(inner))
            }
            "list" => {
                let inner = args.pop()??;
                if matches!(inner, Type::ZSet(_)) {
                    self.error(
                        arg_span(0),
                        "`zset<T>` cannot be an element: it is a model field's whole type",
                    )
                    .help = Some("give the model a `zset<T>` field of its own".into());
                    return None;
                }
                Type::List(Box::new(inner))
            }
            "zset" => {
                let inner = args.pop()??;
                if !settable(&inner) {
                    self.error(
                        arg_span(0),
                        format!("`zset<{}>` is not supported", inner.schema_name()),
                    )
                    .help = Some("zset members must be one of bool, int, string, bytes, datetime, uuid, an enum or a reference".into());
                    return None;
                }
                Type::ZSet(Box::new(inner))
            }
            "set" => {
                let inner = args.pop()??;
                if !settable(&inner) {
                    let why = match inner {
                        Type::Float => {
                            "floats have no canonical text (0.1 + 0.2, -0.0, NaN), so set membership would be unreliable"
                        }
                        Type::Json => {
                            "JSON values have no canonical text (key order, spacing), so set membership would be unreliable"
                        }
                        _ => {
                            "set members must be one of bool, int, string, bytes, datetime, uuid or an enum"
                        }
                    };
                    self.error(
                        arg_span(0),
                        format!("`set<{}>` is not supported", inner.schema_name()),
                    )
                    .help = Some(why.into());
                    return None;
                }
                Type::Set(Box::new(inner))
            }
            "ref" => {
                let target = &e.args[0];
                if !target.args.is_empty() {
                    self.error(arg_span(0), "`ref` takes one model, as in `ref<Player>`");
                    return None;
                }
                match kinds.get(target.name.as_str()) {
                    Some(DeclKind::Model) => Type::Ref(target.name.clone()),
                    _ => {
                        self.error(
                            arg_span(0),
                            format!("`ref<{}>` must name a model", target.name),
                        )
                        .help = Some(
                            "a reference holds the key of an instance of a declared model".into(),
                        );
                        return None;
                    }
                }
            }
            "map" => {
                let value = args.pop()??;
                let key = args.pop()??;
                if key != Type::String {
                    self.error(
                        arg_span(0),
                        format!("map keys must be `string`, found `{}`", key.schema_name()),
                    )
                    .help =
                        Some("Redis hash fields are strings; convert the key to a string".into());
                    return None;
                }
                if matches!(value, Type::ZSet(_)) {
                    self.error(
                        arg_span(1),
                        "`zset<T>` cannot be a map value: it is a model field's whole type",
                    )
                    .help = Some("give the model a `zset<T>` field of its own".into());
                    return None;
                }
                Type::Map(Box::new(value))
            }
            name => {
                match kinds.get(name) {
                    Some(DeclKind::Enum) => Type::Enum(name.to_string()),
                    Some(DeclKind::Struct) => Type::Struct(name.to_string()),
                    Some(DeclKind::Model) => {
                        self.error(at, format!("`{name}` is a model; a field can hold a struct or an enum, not a model"))
                        .help = Some(format!("refer to an instance with `ref<{name}>` (its key), or declare a struct"));
                        return None;
                    }
                    None => {
                        let candidates: Vec<&str> = BUILTINS
                            .iter()
                            .copied()
                            .chain(kinds.keys().map(String::as_str))
                            .collect();
                        let d = self.error(at, format!("unknown type `{name}`"));
                        d.help = Some(match names::did_you_mean(name, candidates) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "types are bool, int, float, string, bytes, datetime, uuid, json, optional<T>, list<T>, set<T>, map<string, T>, ref<Model>, or a declared enum or struct".into(),
                    });
                        return None;
                    }
                }
            }
        };
        Some(ty)
    }

    fn check_default(&mut self, ty: &Type, node: &'a Node) -> Option<Value> {
        let mismatch = |this: &mut Self, detail: &str| {
            this.error(
                node.span,
                format!(
                    "default {} does not fit type `{}`{detail}",
                    describe_value(node),
                    ty.schema_name()
                ),
            );
            None
        };
        match (ty, &node.kind) {
            (Type::Optional(_), NodeKind::Null) => Some(Value::None),
            (Type::Optional(inner), _) => self.check_default(inner, node),
            (Type::Bool, NodeKind::Bool(b)) => Some(Value::Bool(*b)),
            (Type::Int, NodeKind::Int(i)) => Some(Value::Int(*i)),
            (Type::Float, NodeKind::Int(i)) => Some(Value::Float(*i as f64)),
            (Type::Float, NodeKind::Float(f)) if f.is_finite() => Some(Value::Float(*f)),
            (Type::Float, NodeKind::Float(_)) => {
                mismatch(self, ": only finite floats can be stored")
            }
            (Type::String | Type::Bytes, NodeKind::Str(s)) => Some(Value::String(s.clone())),
            (Type::DateTime, NodeKind::Str(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => {
                    let utc = t.with_timezone(&chrono::Utc);
                    Some(Value::DateTime {
                        secs: utc.timestamp(),
                        nanos: utc.timestamp_subsec_nanos(),
                    })
                }
                Err(e) => mismatch(self, &format!(": not an RFC 3339 datetime ({e})")),
            },
            (Type::Uuid, NodeKind::Str(s)) => match uuid::Uuid::parse_str(s) {
                Ok(u) => Some(Value::Uuid(u.as_u128())),
                Err(e) => mismatch(self, &format!(": not a UUID ({e})")),
            },
            (Type::Enum(name), NodeKind::Str(s)) => {
                let variant = self.enum_variants(name).into_iter().find(|(v, _)| v == s);
                match variant {
                    Some((name, rust_name)) => Some(Value::Variant { name, rust_name }),
                    None => {
                        let list: Vec<String> = self
                            .enum_variants(name)
                            .into_iter()
                            .map(|(v, _)| v)
                            .collect();
                        mismatch(self, &format!(": expected one of {}", list.join(", ")))
                    }
                }
            }
            (Type::Json, _) => Some(Value::Json(to_json(node).to_string())),
            (Type::List(_) | Type::Set(_) | Type::Map(_), _) => {
                self.error(
                    node.span,
                    "containers cannot have a default: they start empty",
                );
                None
            }
            (Type::Struct(_), _) => {
                self.error(
                    node.span,
                    "struct fields cannot have a default; give defaults to the struct's own fields",
                );
                None
            }
            _ => mismatch(self, ""),
        }
    }

    /// Variants (schema name, Rust name) of a declared enum, read from its declaration.
    fn enum_variants(&self, name: &str) -> Vec<(String, String)> {
        let Some(decl) = self.decls_lookup(name) else {
            return Vec::new();
        };
        let NodeKind::Map(entries) = &decl.kind else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|(k, _)| k.name == "variants")
            .flat_map(|(_, v)| match &v.kind {
                NodeKind::Seq(items) => items.clone(),
                _ => Vec::new(),
            })
            .filter_map(|n| match n.kind {
                NodeKind::Str(s) => Some((s.clone(), names::variant_ident(&s))),
                _ => None,
            })
            .collect()
    }

    fn decls_lookup(&self, name: &str) -> Option<&'a Node> {
        self.decls
            .iter()
            .find(|d| d.name == name && d.kind == DeclKind::Enum)
            .map(|d| d.node)
    }

    /// `index: sorted` (or `unique`, `lookup`), or `index: { sorted, partition_by: <field> }`:
    /// the kind, and the field a sorted index is partitioned by (checked against the model's
    /// fields in `check_indexes`).
    fn check_index(&mut self, ty: &Type, node: &'a Node) -> Option<(IndexKind, Option<String>)> {
        let (name, partition_by) = match &node.kind {
            NodeKind::Map(_) => {
                let entries = self.entries(node, "`index`", Some(INDEX_KEYS));
                let kinds: Vec<&str> = entries
                    .iter()
                    .map(|(k, _)| k.name.as_str())
                    .filter(|k| *k != "partition_by")
                    .collect();
                let [kind] = kinds.as_slice() else {
                    self.error(
                        node.span,
                        "`index` names one kind: sorted, unique or lookup",
                    )
                    .help = Some("for example `index: { sorted, partition_by: region }`".into());
                    return None;
                };
                let partition_by = match get(&entries, "partition_by") {
                    Some(p) => Some(self.string(p, "`partition_by`")?.to_string()),
                    None => None,
                };
                if partition_by.is_some() && *kind != "sorted" {
                    self.error(node.span, "only a `sorted` index can be partitioned")
                        .help = Some("drop `partition_by`, or make the index `sorted`".into());
                    return None;
                }
                (*kind, partition_by)
            }
            _ => (self.string(node, "`index`")?, None),
        };
        let kind = match name {
            "sorted" => IndexKind::Sorted,
            "unique" => IndexKind::Unique,
            "lookup" => IndexKind::Lookup,
            other => {
                self.error(node.span, format!("unknown index kind `{other}`"))
                    .help = Some("index is one of: sorted, unique, lookup".into());
                return None;
            }
        };
        let base = match ty {
            Type::Optional(inner) => inner.as_ref(),
            t => t,
        };
        let (ok, allowed) = match kind {
            IndexKind::Sorted => (
                matches!(base, Type::Int | Type::Float | Type::DateTime),
                "int, float or datetime",
            ),
            IndexKind::Unique => (
                matches!(
                    base,
                    Type::String | Type::Int | Type::Uuid | Type::Enum(_) | Type::Ref(_)
                ),
                "string, int, uuid, an enum or a reference",
            ),
            IndexKind::Lookup => (
                matches!(
                    base,
                    Type::String | Type::Bool | Type::Int | Type::Enum(_) | Type::Ref(_)
                ),
                "string, bool, int, an enum or a reference",
            ),
        };
        if !ok {
            self.error(
                node.span,
                format!(
                    "a `{name}` index cannot be put on a field of type `{}`",
                    ty.schema_name()
                ),
            )
            .help = Some(format!("`{name}` indexes work on {allowed}"));
            return None;
        }
        Some((kind, partition_by))
    }
}

fn get<'a>(entries: &[(&'a load::Key, &'a Node)], name: &str) -> Option<&'a Node> {
    entries
        .iter()
        .find(|(k, _)| k.name == name)
        .map(|(_, v)| *v)
}

/// Types that can be set members: their encoding is canonical (equal values, equal bytes).
fn settable(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Bool
            | Type::Int
            | Type::String
            | Type::Bytes
            | Type::DateTime
            | Type::Uuid
            | Type::Enum(_)
            | Type::Ref(_)
    )
}

fn describe_value(node: &Node) -> String {
    match &node.kind {
        NodeKind::Null => "null".into(),
        NodeKind::Bool(b) => format!("`{b}`"),
        NodeKind::Int(i) => format!("`{i}`"),
        NodeKind::Float(f) => format!("`{f}`"),
        NodeKind::Str(s) => format!("{s:?}"),
        other => other.describe().into(),
    }
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.kind {
        NodeKind::Null => J::Null,
        NodeKind::Bool(b) => J::Bool(*b),
        NodeKind::Int(i) => J::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        NodeKind::Str(s) => J::String(s.clone()),
        NodeKind::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

// Model checks, cycles, generated names and prefixes live in their own file to keep this one short.
mod model;
