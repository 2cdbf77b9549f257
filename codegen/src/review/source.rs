//! Loading a side of a review: a schema directory on disk, or the same directory at a git
//! revision (read with `git ls-tree` and `git show`, so nothing is checked out).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Side;
use crate::check::{CheckError, check_dir, check_sources};
use crate::diagnostic::SourceMap;

/// Why a side could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The schema is not valid (diagnostics included).
    #[error(transparent)]
    Check(#[from] CheckError),
    /// git failed or is missing.
    #[error("git {args}: {message}")]
    Git {
        /// The git arguments.
        args: String,
        /// What went wrong.
        message: String,
    },
    /// A history directory could not be listed.
    #[error("cannot read {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The revision holds no schema file in the directory.
    #[error("{rev}:{dir} holds no *.yaml or *.yml schema file")]
    Empty {
        /// The revision.
        rev: String,
        /// The directory, relative to the repository.
        dir: String,
    },
}

/// Every version kept in a history directory: each subdirectory holding schema files, in name
/// order, with its name.
pub fn history(dir: &Path) -> Result<Vec<(String, Side)>, SourceError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| SourceError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut sides = Vec::new();
    for d in dirs {
        let has_schema = crate::load::schema_files(&d).is_ok_and(|f| !f.is_empty());
        if has_schema {
            let name = d.display().to_string();
            sides.push((name, from_dir(&d)?));
        }
    }
    Ok(sides)
}

/// A schema directory on disk.
pub fn from_dir(dir: &Path) -> Result<Side, SourceError> {
    let (schema, sources) = check_dir(dir)?;
    Ok(Side { schema, sources })
}

fn git(cwd: &Path, args: &[&str]) -> Result<String, SourceError> {
    let fail = |message: String| SourceError::Git {
        args: args.join(" "),
        message,
    };
    let out = Command::new("git")
        .current_dir(cwd)
        .args(args)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| fail(e.to_string()))
}

/// The schema directory `dir` as it is at git revision `rev`. Positions read `REV:path`.
pub fn from_git(dir: &Path, rev: &str) -> Result<Side, SourceError> {
    let cwd = if dir.is_dir() { dir } else { Path::new(".") };
    // The directory relative to the repository root, as git names paths.
    let prefix = git(cwd, &["rev-parse", "--show-prefix"])?
        .trim()
        .to_string();
    let listing = git(
        cwd,
        &["ls-tree", "--name-only", "--full-name", rev, "--", "."],
    )?;
    let mut sources = SourceMap::default();
    let mut ids = Vec::new();
    let mut names: Vec<&str> = listing
        .lines()
        .filter(|p| p.ends_with(".yaml") || p.ends_with(".yml"))
        .collect();
    names.sort();
    for full in names {
        let text = git(cwd, &["show", &format!("{rev}:{full}")])?;
        ids.push(sources.add(PathBuf::from(format!("{rev}:{full}")), text));
    }
    if ids.is_empty() {
        return Err(SourceError::Empty {
            rev: rev.to_string(),
            dir: prefix,
        });
    }
    let (schema, sources) = check_sources(ids, sources)?;
    Ok(Side { schema, sources })
}
