//! # rapyer-codegen
//!
//! Compiles YAML schemas into typed Rust for the `rapyer` runtime, in four stages, each a module
//! with one job:
//!
//! 1. [`load`]: read `*.yaml` files into a tree that keeps the span of every key and value;
//! 2. [`check`]: resolve and validate, producing the [`ir`] or every [`Diagnostic`] at once;
//!    [`plan`] then decides, once, how each model is stored (read by emit, review and the CLI);
//! 3. [`emit`]: IR -> tera templates -> `syn` -> `prettyplease`;
//! 4. [`write`](mod@write): write only what changed, atomically; or compare (`--check`).
//!
//! The same entry points serve the `rapyer-gen` CLI (the `rapyer-gen` crate in `codegen/cli`),
//! `build.rs` ([`Builder`]) and the tests. The library compiles no async runtime, Redis client or
//! argument parser: a `build.rs` pays only for generation.

pub mod builder;
pub mod check;
pub mod diagnostic;
pub mod emit;
pub mod ir;
pub mod load;
pub mod plan;
pub mod review;
#[cfg(feature = "runtime-meta")]
pub mod runtime_meta;
pub mod write;

use std::path::Path;

pub use builder::Builder;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use emit::GeneratedFile;
pub use write::Changes;

/// Anything that stops generation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The schemas could not be read or are invalid (diagnostics inside).
    #[error(transparent)]
    Check(#[from] check::CheckError),
    /// Code generation failed (a generator bug).
    #[error(transparent)]
    Emit(#[from] emit::EmitError),
    /// Output could not be written.
    #[error(transparent)]
    Write(#[from] write::WriteError),
}

/// Loads and checks a schema directory, then generates the files (nothing is written).
pub fn generate(schema_dir: &Path) -> Result<Vec<GeneratedFile>, Error> {
    let (schema, _) = check::check_dir(schema_dir)?;
    Ok(emit::emit(&schema)?)
}

/// Generates and writes `out_dir`. Nothing is touched when any stage fails.
pub fn generate_to(schema_dir: &Path, out_dir: &Path) -> Result<Changes, Error> {
    let files = generate(schema_dir)?;
    Ok(write::write(out_dir, &files)?)
}

/// Generates and compares with `out_dir` without writing.
pub fn check_output(schema_dir: &Path, out_dir: &Path) -> Result<Changes, Error> {
    let files = generate(schema_dir)?;
    Ok(write::check(out_dir, &files)?)
}
