//! Derives the fixture lists from the directories, so that adding a fixture is adding a directory:
//! `fixtures/<name>/schema` (a generation snapshot, compiled here when `generated/mod.rs` exists)
//! and `review/<case>/{old,new}` (both sides compiled for the end-to-end review tests).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn dirs(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_string();
            path.is_dir().then_some((name, path))
        })
        .collect();
    out.sort();
    out
}

fn include(path: &Path) -> String {
    format!("include!({:?});", path.display().to_string())
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let (fixtures, review) = (manifest.join("fixtures"), manifest.join("review"));
    println!("cargo:rerun-if-changed={}", fixtures.display());
    println!("cargo:rerun-if-changed={}", review.display());
    let mut out = String::new();

    let fixtures: Vec<_> = dirs(&fixtures)
        .into_iter()
        .filter(|(_, dir)| dir.join("schema").is_dir())
        .collect();
    out.push_str("/// Code generated from each fixture schema (`fixtures/<name>/schema` -> `fixtures/<name>/generated`).\npub mod fixtures {\n");
    for (name, dir) in &fixtures {
        println!("cargo:rerun-if-changed={}", dir.display());
        let module = dir.join("generated/mod.rs");
        if module.is_file() {
            println!("cargo:rerun-if-changed={}", dir.join("generated").display());
            let _ = writeln!(
                out,
                "    /// `fixtures/{name}`.\n    pub mod {name} {{ {} }}",
                include(&module)
            );
        }
    }
    out.push_str("}\n\n/// Every fixture (a directory of `fixtures/` with a `schema/`).\npub const FIXTURES: &[&str] = &[");
    for (name, _) in &fixtures {
        let _ = write!(out, "{name:?}, ");
    }
    out.push_str("];\n\n");

    let cases: Vec<_> = dirs(&review)
        .into_iter()
        .filter(|(_, dir)| {
            ["old", "new"]
                .iter()
                .all(|side| dir.join(side).join("generated/mod.rs").is_file())
        })
        .collect();
    out.push_str("/// Code generated from both sides of the schema-review fixtures (`review/<case>/{old,new}`), for\n/// the end-to-end compatibility tests: the old code writes, the new code reads, and back.\npub mod review_cases {\n");
    for (name, dir) in &cases {
        let _ = writeln!(out, "    #[allow(missing_docs)]\n    pub mod {name} {{");
        for side in ["old", "new"] {
            println!(
                "cargo:rerun-if-changed={}",
                dir.join(side).join("generated").display()
            );
            let _ = writeln!(
                out,
                "        pub mod {side} {{ {} }}",
                include(&dir.join(side).join("generated/mod.rs"))
            );
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n\n/// The review cases whose generated code is compiled above.\npub const REVIEW_CASES: &[&str] = &[");
    for (name, _) in &cases {
        let _ = write!(out, "{name:?}, ");
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("fixtures.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
