//! Stage 1, load: read the `*.yaml`/`*.yml` files of a schema directory into a syntax tree that keeps
//! the source span of every key and value.
//!
//! The tree is deliberately untyped (maps, sequences, scalars): the check stage walks it and reports
//! every unknown key, wrong kind or bad value at once, which a typed serde struct cannot do.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Location, NonFiniteFloatPolicy, Options, Spanned};

use crate::diagnostic::{Diagnostic, FileId, SourceMap, Span};

/// A YAML value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the value is.
    pub kind: NodeKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of YAML values.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; duplicate keys are kept so that they can be reported.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key was written.
    pub span: Span,
}

impl NodeKind {
    /// Human name of the kind, for messages ("expected a mapping, found a string").
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Null => "nothing (null)",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// One parsed schema file.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// Id in the source map.
    pub file: FileId,
    /// The document's root value.
    pub root: Node,
}

/// Errors that stop loading before any schema can be checked (I/O, not syntax).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The schema directory could not be read.
    #[error("cannot read schema directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A schema file could not be read.
    #[error("cannot read schema file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory holds no schema file.
    #[error("no *.yaml or *.yml schema file in {0}")]
    Empty(PathBuf),
}

/// Lists the schema files of a directory (not recursive), sorted by name so that output is
/// deterministic whatever the file system's order.
pub fn schema_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read_dir = |source| LoadError::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(LoadError::Empty(dir.to_path_buf()));
    }
    Ok(files)
}

/// Reads every schema file of `dir` into `sources`.
pub fn read_dir(dir: &Path, sources: &mut SourceMap) -> Result<Vec<FileId>, LoadError> {
    schema_files(dir)?
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::ReadFile {
                path: path.clone(),
                source,
            })?;
            Ok(sources.add(path, text))
        })
        .collect()
}

/// Parses one file. A syntax error becomes a diagnostic pointing at the offending character.
pub fn parse(file: FileId, sources: &SourceMap) -> Result<LoadedFile, Diagnostic> {
    let text = &sources.file(file).text;
    let mut options = Options::default();
    // Duplicate keys reach our visitor, which keeps them all so that check reports each one.
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    // `.nan` reaches check, which says why a default must be finite.
    options.non_finite_float_policy = NonFiniteFloatPolicy::PassThrough;
    if text.trim().is_empty() {
        return Ok(LoadedFile {
            file,
            root: Node {
                kind: NodeKind::Map(Vec::new()),
                span: Span {
                    file,
                    line: 1,
                    column: 1,
                    start: 0,
                    len: 0,
                },
            },
        });
    }
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options) {
        Ok(root) => Ok(LoadedFile {
            file,
            root: convert(root, file, text),
        }),
        Err(err) => {
            let span = err
                .location()
                .map(|loc| span_of(&loc, file, text))
                .unwrap_or(Span {
                    file,
                    line: 1,
                    column: 1,
                    start: 0,
                    len: 1,
                });
            Err(Diagnostic::error(
                span,
                format!("YAML syntax error: {}", first_line(&err)),
            ))
        }
    }
}

/// The error's message without serde-saphyr's own snippet (we render ours).
fn first_line(err: &serde_saphyr::Error) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or("invalid YAML");
    // Messages look like "error: line 3 column 5: did not find expected key"; keep the reason.
    let reason = line.rsplit(": ").next().unwrap_or(line);
    reason.trim().to_string()
}

fn span_of(loc: &Location, file: FileId, text: &str) -> Span {
    let span = loc.span();
    let line = loc.line().max(1) as u32;
    let column = loc.column().max(1) as u32;
    let start = span
        .byte_offset()
        .map(|o| o as usize)
        .unwrap_or_else(|| offset_of(text, line, column));
    let len = span.byte_len().map(|l| l as usize).unwrap_or(1);
    Span {
        file,
        line,
        column,
        start,
        len,
    }
}

/// Byte offset of a 1-based line/column (in characters).
fn offset_of(text: &str, line: u32, column: u32) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1) as usize)
        .map(str::len)
        .sum();
    let rest = &text[line_start.min(text.len())..];
    line_start
        + rest
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(rest.len(), |(i, _)| i)
}

fn convert(node: Spanned<RawNode>, file: FileId, text: &str) -> Node {
    let span = span_of(&node.referenced, file, text);
    let kind = match node.value {
        RawNode::Null => NodeKind::Null,
        RawNode::Bool(b) => NodeKind::Bool(b),
        RawNode::Int(i) => NodeKind::Int(i),
        RawNode::Float(f) => NodeKind::Float(f),
        RawNode::Str(s) => NodeKind::Str(s),
        RawNode::Seq(items) => {
            NodeKind::Seq(items.into_iter().map(|n| convert(n, file, text)).collect())
        }
        RawNode::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = Key {
                        span: span_of(&k.referenced, file, text),
                        name: k.value,
                    };
                    (key, convert(v, file, text))
                })
                .collect(),
        ),
    };
    Node { kind, span }
}

/// The serde-facing tree; children carry serde-saphyr spans, converted to ours afterwards.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<String>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        i64::try_from(v).map(RawNode::Int).map_err(|_| {
            E::custom(format!(
                "integer {v} does not fit in a 64-bit signed integer"
            ))
        })
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        i64::try_from(v).map(RawNode::Int).map_err(|_| {
            E::custom(format!(
                "integer {v} does not fit in a 64-bit signed integer"
            ))
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        i64::try_from(v).map(RawNode::Int).map_err(|_| {
            E::custom(format!(
                "integer {v} does not fit in a 64-bit signed integer"
            ))
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Node, Diagnostic> {
        let mut sources = SourceMap::default();
        let id = sources.add("t.yaml".into(), text.to_string());
        parse(id, &sources).map(|f| f.root)
    }

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let root = load("version: 1\nmodels:\n  Player:\n    fields:\n      score: int\n").unwrap();
        let NodeKind::Map(top) = root.kind else {
            panic!("root is not a map")
        };
        assert_eq!(top[1].0.name, "models");
        assert_eq!((top[1].0.span.line, top[1].0.span.column), (2, 1));
        let NodeKind::Map(models) = &top[1].1.kind else {
            panic!()
        };
        let NodeKind::Map(player) = &models[0].1.kind else {
            panic!()
        };
        let NodeKind::Map(fields) = &player[0].1.kind else {
            panic!()
        };
        let (key, value) = &fields[0];
        assert_eq!(
            (key.name.as_str(), key.span.line, key.span.column),
            ("score", 5, 7)
        );
        assert_eq!(value.kind, NodeKind::Str("int".into()));
        assert_eq!((value.span.line, value.span.column), (5, 14));
        assert_eq!(
            value.span.start,
            "version: 1\nmodels:\n  Player:\n    fields:\n      score: ".len()
        );
    }

    #[test]
    fn keeps_duplicate_keys() {
        let root = load("a: 1\na: 2\n").unwrap();
        let NodeKind::Map(top) = root.kind else {
            panic!()
        };
        assert_eq!(top.len(), 2);
        assert_eq!(top[1].0.span.line, 2);
    }

    #[test]
    fn syntax_error_has_position() {
        let err = load("models:\n  Player: [unclosed\n").unwrap_err();
        assert!(
            err.message.starts_with("YAML syntax error"),
            "{}",
            err.message
        );
        assert!(err.span.line >= 2, "{:?}", err.span);
    }
}
