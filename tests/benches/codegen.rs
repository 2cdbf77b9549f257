//! Code generation time for a large schema: 500 models (each with an enum, nested structs,
//! containers and indexes), from YAML to formatted Rust, then written to disk.
//!
//! `cargo bench -p rapyer-tests --bench codegen` prints the figures and writes
//! `target/bench/codegen.json`; under `cargo test` it generates a 20-model schema once.

use std::fmt::Write as _;
use std::time::Instant;

/// A schema of `models` models, each with its own enum and struct, spread over 10 files.
fn write_schema(dir: &std::path::Path, models: usize) {
    for file in 0..10 {
        let mut yaml = String::from("version: 1\nenums:\n");
        let range = (file * models / 10)..((file + 1) * models / 10);
        for m in range.clone() {
            writeln!(
                yaml,
                "  Tier{m}:\n    variants: [bronze, silver, gold, platinum]"
            )
            .unwrap();
        }
        yaml.push_str("structs:\n");
        for m in range.clone() {
            writeln!(
                yaml,
                "  Stats{m}:\n    fields:\n      games: {{ type: int, default: 0, index: sorted }}\n      ratio: {{ type: float, default: 0 }}\n      seen: optional<datetime>\n      tags: set<string>"
            )
            .unwrap();
        }
        yaml.push_str("models:\n");
        for m in range {
            writeln!(
                yaml,
                "  Model{m}:\n    doc: Model number {m}.\n    key: {{ generate: uuid }}\n    fields:\n      name: {{ type: string, index: unique }}\n      score: {{ type: int, default: 0, index: sorted }}\n      tier: {{ type: Tier{m}, default: bronze, index: lookup }}\n      active: {{ type: bool, default: true }}\n      bio: optional<string>\n      data: json\n      history: list<float>\n      labels: map<string, string>\n      stats: Stats{m}\n      log: list<Stats{m}>"
            )
            .unwrap();
        }
        std::fs::write(dir.join(format!("part{file}.yaml")), yaml).unwrap();
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (mut models, runs) = if full { (500, 5) } else { (20, 1) };
    // For profiling: another size.
    if let Some(n) = std::env::var("RAPYER_BENCH_MODELS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        models = n;
    }
    let schema = tempfile::tempdir().unwrap();
    write_schema(schema.path(), models);

    let mut generate = Vec::new();
    let mut files = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        files = rapyer_codegen::generate(schema.path()).expect("the schema is valid");
        generate.push(start.elapsed().as_secs_f64());
    }
    generate.sort_by(f64::total_cmp);
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    rapyer_codegen::generate_to(schema.path(), out.path()).unwrap();
    let first_write = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let again = rapyer_codegen::generate_to(schema.path(), out.path()).unwrap();
    let unchanged = start.elapsed().as_secs_f64();
    assert!(again.written.is_empty(), "a second run rewrote files");
    let lines: usize = files.iter().map(|f| f.contents.lines().count()).sum();
    let median = generate[generate.len() / 2];

    println!("code generation, {models} models (+{models} structs, +{models} enums) in 10 files");
    println!(
        "  generate (load, check, emit, format): {:.3} s (median of {runs})",
        median
    );
    println!("  generate and write to an empty directory: {first_write:.3} s");
    println!("  generate with nothing to write: {unchanged:.3} s");
    println!(
        "  output: {} files, {lines} lines, {:.0} lines/s",
        files.len(),
        lines as f64 / median
    );
    if full {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&dir).unwrap();
        let json = serde_json::json!({
            "models": models,
            "generate_secs": median,
            "first_write_secs": first_write,
            "unchanged_secs": unchanged,
            "files": files.len(),
            "lines": lines,
        });
        std::fs::write(
            dir.join("codegen.json"),
            serde_json::to_string_pretty(&json).unwrap(),
        )
        .unwrap();
    }
}
