//! End-to-end tests of rapyer-rs: schema -> generate -> compile -> real Redis.
//!
//! The generated code of every fixture in `fixtures/` is committed (a snapshot) and compiled here,
//! so a snapshot that does not build, or is not clippy clean, fails the build.

pub mod expect;
pub mod harness;
pub mod rng;
pub mod samples;

/// A workspace binary for a test to run: the one `cargo test --workspace` built next to the test
/// executable, or else `cargo run -p <package> --bin <name>`.
pub fn workspace_bin(package: &str, name: &str) -> std::process::Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
        .filter(|p| p.is_file());
    match built {
        Some(bin) => std::process::Command::new(bin),
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["run", "-q", "--offline", "-p", package, "--bin", name, "--"]);
            cmd
        }
    }
}

// `fixtures`, `FIXTURES`, `review_cases` and `REVIEW_CASES`, listed from the directories by
// build.rs.
include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
