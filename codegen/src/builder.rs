//! Use from `build.rs`, in the style of prost-build.
//!
//! ```no_run
//! // build.rs: `fn main()` calls
//! rapyer_codegen::Builder::new("schemas").compile_or_exit();
//! ```
//!
//! ```text
//! // src/lib.rs
//! mod generated {
//!     include!(concat!(env!("OUT_DIR"), "/rapyer/mod.rs"));
//! }
//! ```

use std::path::{Path, PathBuf};

use crate::{Changes, Error};

/// Generates code from a schema directory into `$OUT_DIR/rapyer` (or a chosen directory) and tells
/// cargo to rerun when any schema changes.
#[derive(Debug, Clone)]
pub struct Builder {
    schema_dir: PathBuf,
    out_dir: Option<PathBuf>,
    emit_rerun: bool,
}

impl Builder {
    /// A builder for the schemas in `schema_dir` (relative to the crate root in `build.rs`).
    pub fn new(schema_dir: impl AsRef<Path>) -> Self {
        Builder {
            schema_dir: schema_dir.as_ref().to_path_buf(),
            out_dir: None,
            emit_rerun: true,
        }
    }

    /// Writes into `dir` instead of `$OUT_DIR/rapyer`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (on by default).
    pub fn emit_rerun_if_changed(mut self, on: bool) -> Self {
        self.emit_rerun = on;
        self
    }

    /// The output directory this builder writes to.
    pub fn output_dir(&self) -> PathBuf {
        self.out_dir.clone().unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_else(|| "target/rapyer".into()))
                .join("rapyer")
        })
    }

    /// Generates. The rerun lines are printed even on failure, so fixing a schema reruns the build.
    pub fn compile(&self) -> Result<Changes, Error> {
        if self.emit_rerun {
            println!("cargo:rerun-if-changed={}", self.schema_dir.display());
            if let Ok(files) = crate::load::schema_files(&self.schema_dir) {
                for f in files {
                    println!("cargo:rerun-if-changed={}", f.display());
                }
            }
        }
        crate::generate_to(&self.schema_dir, &self.output_dir())
    }

    /// Generates, or prints the diagnostics and exits with status 1 (for `build.rs`).
    pub fn compile_or_exit(&self) {
        if let Err(e) = self.compile() {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
