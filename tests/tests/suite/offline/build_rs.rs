//! The `build.rs` path: a crate generates its models at build time with `rapyer_codegen::Builder`,
//! includes them from `OUT_DIR`, and cargo regenerates when a schema changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cargo_build(dir: &Path, target: &Path) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet", "--message-format=short"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cannot run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cargo build failed:\n{stderr}");
    stderr
}

fn generated_player(target: &Path) -> String {
    let build = target.join("debug/build");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&build)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path().join("out/rapyer/player.rs")))
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    std::fs::read_to_string(found.last().expect("no generated player.rs in OUT_DIR")).unwrap()
}

#[test]
fn build_rs_generates_and_reruns_when_a_schema_changes() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"uses-build-rs\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nrapyer = {{ path = {runtime:?} }}\n\n\
             [build-dependencies]\nrapyer-codegen = {{ path = {codegen:?} }}\n\n[workspace]\n",
            runtime = workspace.join("runtime"),
            codegen = workspace.join("codegen"),
        ),
    )
    .unwrap();
    // The workspace's lock file pins the same versions, so the build works offline.
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("build.rs"),
        "fn main() {\n    rapyer_codegen::Builder::new(\"schemas\").compile_or_exit();\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "mod generated {\n    include!(concat!(env!(\"OUT_DIR\"), \"/rapyer/mod.rs\"));\n}\n\
         pub fn make() -> generated::Player {\n    generated::Player::new(\"x\")\n}\n",
    )
    .unwrap();
    let schema = dir.join("schemas/player.yaml");
    std::fs::write(
        &schema,
        "version: 1\nmodels:\n  Player:\n    fields:\n      name: string\n",
    )
    .unwrap();

    let target = workspace.join("target/build-rs-test");
    cargo_build(dir, &target);
    assert!(generated_player(&target).contains("pub name: rt::String"));

    // Editing the schema reruns the build script and regenerates.
    std::fs::write(&schema, "version: 1\nmodels:\n  Player:\n    fields:\n      name: string\n      level: { type: int, default: 1 }\n").unwrap();
    cargo_build(dir, &target);
    assert!(
        generated_player(&target).contains("pub level: i64"),
        "the build script did not rerun"
    );

    // A broken schema fails the build with a located diagnostic.
    std::fs::write(
        &schema,
        "version: 1\nmodels:\n  Player:\n    fields:\n      name: strng\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unknown type `strng`") && stderr.contains("player.yaml:5:13"),
        "{stderr}"
    );
}

/// What a `build.rs` that depends on `rapyer-codegen` compiles: no async runtime, Redis client
/// or argument parser (those belong to the runtime and to the `rapyer-gen` command).
#[test]
fn the_generator_library_compiles_neither_tokio_nor_redis_nor_clap() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "rapyer-codegen",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(workspace)
        .output()
        .expect("cannot run cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        crates.contains(&"tera") && crates.contains(&"syn"),
        "{tree}"
    );
    for heavy in ["tokio", "redis", "clap", "rapyer"] {
        assert!(
            !crates.contains(&heavy),
            "rapyer-codegen pulls {heavy}:\n{tree}"
        );
    }
}
