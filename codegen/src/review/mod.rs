//! Versioned schema reviews: what changed between two checked schemas, and whether data written
//! by one version is read correctly by the other.
//!
//! - `backward`: new code reads data written by the old code.
//! - `forward`: old code reads data written by the new code (a rolling deploy runs both).
//! - `full`: both.
//!
//! [`review`] is pure: two schemas in, a [`Report`] out. [`source`] loads a side from a directory
//! or a git revision; [`render`] formats a report as text, markdown, JSON or GitHub annotations.

mod compare;
pub mod render;
pub mod rules;
pub mod source;

use std::path::PathBuf;

use crate::diagnostic::{SourceMap, Span};
use crate::ir::Schema;
pub use rules::Rule;

/// One side of a review: a checked schema and its sources (for positions).
#[derive(Debug)]
pub struct Side {
    /// The schema.
    pub schema: Schema,
    /// Its files.
    pub sources: SourceMap,
}

/// Which readers must keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// New code reads old data.
    Backward,
    /// Old code reads new data.
    Forward,
    /// Both.
    Full,
}

impl Mode {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Backward => "backward",
            Mode::Forward => "forward",
            Mode::Full => "full",
        }
    }
}

/// How much a finding matters, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Severity {
    /// Compatible; worth knowing.
    Info,
    /// Compatible, but something must be done (reindex, clean up) or may surprise.
    Warning,
    /// Incompatible in the selected mode: data will not be read correctly.
    Breaking,
    /// A rule of the process is broken (version discipline).
    Error,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Breaking => "breaking",
            Severity::Error => "error",
        }
    }
}

/// Where a finding points: the new schema for what exists there, the old one for removals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File path as given (or `REV:path` for a git revision).
    pub path: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// One change found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Severity in the review's mode.
    pub severity: Severity,
    /// Whether new code reads old data after this change.
    pub backward: bool,
    /// Whether old code reads new data after this change.
    pub forward: bool,
    /// What changed, and what it means.
    pub message: String,
    /// Where.
    pub location: Location,
}

/// The result of a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The mode checked.
    pub mode: Mode,
    /// Old and new schema versions.
    pub old_version: u32,
    /// New schema version.
    pub new_version: u32,
    /// Findings in file order (new side first).
    pub findings: Vec<Finding>,
}

impl Report {
    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The process exit status: 1 for an error finding, 2 for a breaking one, 1 for any other
    /// finding at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        match self.worst() {
            Some(Severity::Error) => 1,
            Some(Severity::Breaking) if fail_on <= Severity::Breaking => 2,
            Some(worst) if worst >= fail_on => 1,
            _ => 0,
        }
    }
}

/// Reviews `new` against `old` in `mode`.
pub fn review(old: &Side, new: &Side, mode: Mode) -> Report {
    compare::compare(old, new, mode)
}

fn locate(sources: &SourceMap, span: Span) -> Location {
    Location {
        path: sources.path(span.file).to_path_buf(),
        line: span.line,
        column: span.column,
    }
}
