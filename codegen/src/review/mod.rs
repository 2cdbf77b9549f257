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

/// A closed set of named values chosen on a command line (review mode, severity, output
/// format): the names are listed and parsed here, so every front end agrees on them.
pub trait Choice: Sized + Copy + Send + Sync + 'static {
    /// Every value.
    const ALL: &'static [Self];
    /// Every name, in the order of [`ALL`](Self::ALL).
    const NAMES: &'static [&'static str];
    /// The value named `name`.
    fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Self::ALL.get(i).copied()
    }
}

/// Which readers must keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        Self::NAMES[self as usize]
    }
}

impl Choice for Mode {
    const ALL: &'static [Self] = &[Mode::Backward, Mode::Forward, Mode::Full];
    const NAMES: &'static [&'static str] = &["backward", "forward", "full"];
}

/// How much a finding matters, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

impl Choice for Severity {
    const ALL: &'static [Self] = &[
        Severity::Info,
        Severity::Warning,
        Severity::Breaking,
        Severity::Error,
    ];
    const NAMES: &'static [&'static str] = &["info", "warning", "breaking", "error"];
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
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

#[cfg(test)]
mod tests {
    use super::render::Format;
    use super::*;

    fn agree<T: Choice + PartialEq + std::fmt::Debug>(index: impl Fn(T) -> usize) {
        assert_eq!(T::ALL.len(), T::NAMES.len());
        for (i, (value, name)) in T::ALL.iter().zip(T::NAMES).enumerate() {
            assert_eq!(index(*value), i, "{name}");
            assert_eq!(T::from_name(name), Some(*value));
        }
        assert_eq!(T::from_name("nonsense"), None);
    }

    #[test]
    fn every_choice_has_its_name_at_its_place() {
        agree::<Mode>(|m| m as usize);
        agree::<Severity>(|s| s as usize);
        agree::<Format>(|f| f as usize);
        assert_eq!(Mode::Forward.name(), "forward");
        assert_eq!(Severity::Breaking.name(), "breaking");
    }
}
