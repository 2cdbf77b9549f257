//! Snapshot tests of diagnostics: every malformed schema in `bad/<case>/` must report exactly the
//! problems recorded in `bad/<case>.stderr`, each with file:line:column and a snippet.

use std::path::Path;

use rapyer_codegen::check::{CheckError, check_dir};
use rapyer_tests::expect;

fn render(case: &Path) -> String {
    match check_dir(case) {
        Ok(_) => panic!("{} was accepted, but it is malformed", case.display()),
        Err(CheckError::Invalid(diags)) => diags.to_string(),
        Err(other) => panic!("{}: {other}", case.display()),
    }
}

#[test]
fn malformed_schemas_report_every_problem_with_positions() {
    // Relative paths keep the snapshots independent of where the repository lives: cargo runs
    // tests in the package's directory.
    let mut cases: Vec<_> = std::fs::read_dir("bad")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "only {} malformed schemas", cases.len());
    for case in &cases {
        let text = render(case);
        assert!(
            text.contains(&format!("{}/", case.display())),
            "{}: no file:line:col in\n{text}",
            case.display()
        );
        expect::assert_file(&case.with_extension("stderr"), &text);
    }
}

#[test]
fn the_design_example_is_accepted_as_written() {
    // A verbatim copy of the example schema in DESIGN.md.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("good/design_example");
    let (schema, _) = check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schema.models[0].name, "Player");
    assert_eq!(schema.version, 1);
    // schemas/ grew from it (version 2 adds `streak`).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let (schema, _) = check_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schema.version, 2);
    assert!(schema.models[0].fields.iter().any(|f| f.name == "streak"));
}
