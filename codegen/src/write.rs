//! Stage 4, write: bring an output directory in line with the generated files.
//!
//! Only changed files are written, each atomically (temporary file + rename). Files that carry the
//! `@generated` marker but are no longer produced are removed; other files are never touched.
//! `check` compares instead of writing and describes each difference with a unified diff.

use std::path::{Path, PathBuf};

use crate::emit::{GENERATED_MARKER, GeneratedFile};

/// An I/O failure while writing output.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct WriteError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError {
        action,
        path,
        source,
    }
}

/// What differs between the generated files and the directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Files to create or update.
    pub written: Vec<String>,
    /// Stale generated files to remove.
    pub removed: Vec<String>,
    /// Files identical on disk.
    pub unchanged: Vec<String>,
    /// A unified diff of every difference (filled by [`check`]).
    pub diff: String,
}

impl Changes {
    /// True when the directory already matches.
    pub fn is_clean(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }
}

fn is_generated(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.starts_with(GENERATED_MARKER))
}

fn stale_files(dir: &Path, files: &[GeneratedFile]) -> Result<Vec<String>, WriteError> {
    let mut stale = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(stale),
        Err(e) => return Err(io("cannot read", dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(io("cannot read", dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".rs") && !files.iter().any(|f| f.name == name) && is_generated(&path) {
            stale.push(name.to_string());
        }
    }
    stale.sort();
    Ok(stale)
}

/// Compares without writing.
pub fn check(dir: &Path, files: &[GeneratedFile]) -> Result<Changes, WriteError> {
    let mut changes = Changes::default();
    for f in files {
        let path = dir.join(&f.name);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old == f.contents {
            changes.unchanged.push(f.name.clone());
        } else {
            let diff = similar::TextDiff::from_lines(&old, &f.contents);
            changes.diff.push_str(
                &diff
                    .unified_diff()
                    .header(
                        &path.display().to_string(),
                        &format!("{} (generated)", path.display()),
                    )
                    .to_string(),
            );
            changes.written.push(f.name.clone());
        }
    }
    for name in stale_files(dir, files)? {
        changes.diff.push_str(&format!(
            "stale generated file {} would be removed\n",
            dir.join(&name).display()
        ));
        changes.removed.push(name);
    }
    Ok(changes)
}

/// Writes what changed and removes stale generated files.
pub fn write(dir: &Path, files: &[GeneratedFile]) -> Result<Changes, WriteError> {
    // Refuse to overwrite a hand-written file that happens to have a generated name.
    for f in files {
        let path = dir.join(&f.name);
        if path.exists() && !is_generated(&path) {
            return Err(WriteError {
                action: "refusing to overwrite a file that rapyer-gen did not write:",
                path,
                source: std::io::Error::other("no @generated header"),
            });
        }
    }
    let mut changes = check(dir, files)?;
    changes.diff.clear();
    if changes.is_clean() {
        return Ok(changes);
    }
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    for f in files.iter().filter(|f| changes.written.contains(&f.name)) {
        let path = dir.join(&f.name);
        let tmp = dir.join(format!(".{}.rapyer-tmp", f.name));
        std::fs::write(&tmp, &f.contents).map_err(io("cannot write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("cannot replace", &path))?;
    }
    for name in &changes.removed {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
    }
    Ok(changes)
}
