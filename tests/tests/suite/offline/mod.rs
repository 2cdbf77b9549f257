//! Tests that never talk to a server.

mod build_rs;
mod diagnostics;
mod readme;
mod review;
mod snapshots;

/// Every file of the suite is one of its modules: a file nobody declares would never be
/// compiled, and its tests would silently not run.
#[test]
fn every_test_file_is_a_module_of_the_suite() {
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    for (dir, declaring) in [
        (suite.clone(), "main.rs"),
        (suite.join("offline"), "mod.rs"),
    ] {
        let declared = std::fs::read_to_string(dir.join(declaring)).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "rs") && name != "main" && name != "mod" {
                assert!(
                    declared.contains(&format!("\nmod {name};\n")),
                    "{} is not declared in {declaring}",
                    path.display()
                );
            }
        }
    }
}
