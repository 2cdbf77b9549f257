//! The README's snippets are real code: every `rust` block is an excerpt of a file that compiles
//! and runs in CI, and the `yaml` block is the example schema itself.

use std::path::Path;

/// Lines without indentation (and without the quote that opens a Rust string literal, for code
/// that a test writes into a crate), blank lines dropped.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().trim_start_matches('"').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn blocks<'a>(readme: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("unclosed code block");
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out
}

#[test]
fn every_rust_snippet_in_the_readme_is_an_excerpt_of_compiled_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let sources: Vec<Vec<String>> = [
        "generated-example/src/bin/quickstart.rs",
        "generated-example/src/bin/leaderboard.rs",
        "generated-example/src/game.rs",
        "tests/tests/suite/offline/build_rs.rs",
    ]
    .iter()
    .map(|p| {
        let text = std::fs::read_to_string(root.join(p)).unwrap();
        // Code the build.rs test writes into a crate sits in string literals.
        normalized(&text.replace("\\n", "\n").replace("\\\"", "\""))
    })
    .collect();
    let snippets = blocks(&readme, "rust");
    assert!(
        snippets.len() >= 10,
        "only {} rust snippets",
        snippets.len()
    );
    for snippet in snippets {
        let lines = normalized(snippet);
        let found = sources
            .iter()
            .any(|src| src.windows(lines.len()).any(|w| w == lines.as_slice()));
        assert!(
            found,
            "README snippet not found in the compiled sources:\n{snippet}"
        );
    }
}

#[test]
fn the_readme_schema_is_the_example_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let schema = std::fs::read_to_string(root.join("schemas/leaderboard.yaml")).unwrap();
    assert_eq!(blocks(&readme, "yaml"), [schema.as_str()]);
}

#[test]
fn the_readme_review_output_is_what_the_tool_prints() {
    use rapyer_codegen::review::render::{Format, render};
    use rapyer_codegen::review::{Mode, review, source};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let shown = blocks(&readme, "text")
        .into_iter()
        .find(|b| b.starts_with("$ rapyer-gen review"))
        .expect("the review example in the README");
    let dir = Path::new("review/leaderboard_v3");
    let report = review(
        &source::from_dir(&dir.join("old")).unwrap(),
        &source::from_dir(&dir.join("new")).unwrap(),
        Mode::Full,
    );
    let printed = render(&report, Format::Text).replace("review/leaderboard_v3/new/", "…/new/");
    let body = &shown[shown.find('\n').unwrap() + 1..];
    assert_eq!(body, printed);
}
