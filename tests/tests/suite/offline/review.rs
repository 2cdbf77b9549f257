//! Schema reviews: every fixture pair under `review/<case>/{old,new}` is reviewed in each mode,
//! and the findings (rule, severity, position, message) are compared with `review/<case>.txt`
//! (rewritten with `UPDATE_SNAPSHOTS=1`). Also: the formats, exit codes and git revisions.

use std::path::Path;
use std::process::Command;

use rapyer_codegen::review::render::{Format, render};
use rapyer_codegen::review::{Mode, Severity, review, rules, source};
use rapyer_tests::expect;

fn cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir("review")
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_fixture_pair_gives_exactly_the_expected_findings() {
    let mut rules_seen = std::collections::BTreeSet::new();
    for case in cases() {
        let dir = Path::new("review").join(&case);
        let old = source::from_dir(&dir.join("old")).unwrap_or_else(|e| panic!("{case}: {e}"));
        let new = source::from_dir(&dir.join("new")).unwrap_or_else(|e| panic!("{case}: {e}"));
        let mut text = String::new();
        for (mode, name) in [
            (Mode::Backward, "backward"),
            (Mode::Forward, "forward"),
            (Mode::Full, "full"),
        ] {
            let report = review(&old, &new, mode);
            rules_seen.extend(report.findings.iter().map(|f| f.rule.id));
            text.push_str(&format!("## {name}\n{}", render(&report, Format::Text)));
        }
        expect::assert_file(&Path::new("review").join(format!("{case}.txt")), &text);
    }
    let missing: Vec<&str> = rules::ALL
        .iter()
        .map(|r| r.id)
        .filter(|id| !rules_seen.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a fixture: {missing:?}");
}

#[test]
fn formats_and_exit_codes() {
    let dir = Path::new("review/variants");
    let old = source::from_dir(&dir.join("old")).unwrap();
    let new = source::from_dir(&dir.join("new")).unwrap();
    let report = review(&old, &new, Mode::Full);
    assert_eq!(report.exit_code(Severity::Breaking), 2);
    let backward_only = review(&old, &new, Mode::Forward);
    assert_eq!(backward_only.worst(), Some(Severity::Breaking));

    let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    assert_eq!(json["findings"][0]["rule"], "RS020");
    assert_eq!(
        json["findings"][0]["file"],
        "review/variants/new/schema.yaml"
    );
    assert_eq!(json["findings"][0]["line"], 4);
    let gh = render(&report, Format::Github);
    assert!(
        gh.starts_with("::error file=review/variants/new/schema.yaml,line=4,col="),
        "{gh}"
    );
    let md = render(&report, Format::Markdown);
    assert!(
        md.contains("| breaking | `RS020` enum-variant-added |"),
        "{md}"
    );

    // Compatible-with-actions change: clean by default, failing with --fail-on warning.
    let dir = Path::new("review/indexes");
    let report = review(
        &source::from_dir(&dir.join("old")).unwrap(),
        &source::from_dir(&dir.join("new")).unwrap(),
        Mode::Full,
    );
    assert_eq!(report.worst(), Some(Severity::Warning));
    assert_eq!(report.exit_code(Severity::Breaking), 0);
    assert_eq!(report.exit_code(Severity::Warning), 1);
    // Version discipline errors exit 1.
    let dir = Path::new("review/no_bump");
    let report = review(
        &source::from_dir(&dir.join("old")).unwrap(),
        &source::from_dir(&dir.join("new")).unwrap(),
        Mode::Full,
    );
    assert_eq!(report.exit_code(Severity::Breaking), 1);
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn review_against_a_git_revision_reads_the_old_schema_from_git() {
    let repo = tempfile::tempdir().unwrap();
    let schemas = repo.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    std::fs::copy("review/variants/old/schema.yaml", schemas.join("game.yaml")).unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(
        repo.path(),
        &["-c", "user.name=t", "-c", "user.email=t@t", "add", "."],
    );
    git(
        repo.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "v1",
        ],
    );
    std::fs::copy("review/variants/new/schema.yaml", schemas.join("game.yaml")).unwrap();

    let old = source::from_git(&schemas, "main").unwrap();
    let new = source::from_dir(&schemas).unwrap();
    let report = review(&old, &new, Mode::Full);
    let text = render(&report, Format::Text);
    assert!(text.contains("schemas/game.yaml:4:"), "{text}");
    // Removals point into the old file, named by revision.
    assert!(text.contains("main:schemas/game.yaml:"), "{text}");
    assert!(matches!(
        source::from_git(&schemas, "no-such-rev"),
        Err(source::SourceError::Git { .. })
    ));
}

#[test]
fn the_docs_describe_every_rule_and_show_a_real_report() {
    let docs = std::fs::read_to_string("../docs/review.md").unwrap();
    for rule in rules::ALL {
        assert!(
            docs.contains(&format!("`{}` {}", rule.id, rule.name)),
            "docs/review.md does not describe {} {}",
            rule.id,
            rule.name
        );
    }
    // The example report in the docs is what the tool prints for that change.
    let dir = Path::new("review/leaderboard_v3");
    let report = review(
        &source::from_dir(&dir.join("old")).unwrap(),
        &source::from_dir(&dir.join("new")).unwrap(),
        Mode::Full,
    );
    let example = format!(
        "# Example: a schema review as a pull-request comment\n\n\
         `rapyer-gen review tests/review/leaderboard_v3/old tests/review/leaderboard_v3/new --format markdown`\n\
         (version 3 of the leaderboard schema proposed against version 2) prints:\n\n---\n\n{}",
        render(&report, Format::Markdown)
    );
    expect::assert_file(Path::new("../docs/review-example.md"), &example);
}

#[test]
fn the_generated_code_of_the_review_cases_is_up_to_date() {
    for case in rapyer_tests::REVIEW_CASES {
        for side in ["old", "new"] {
            let schema = Path::new("review").join(case).join(side);
            let out = schema.join("generated");
            if expect::updating() {
                rapyer_codegen::generate_to(&schema, &out).unwrap();
            }
            let changes = rapyer_codegen::check_output(&schema, &out).unwrap();
            assert!(
                changes.is_clean(),
                "{}: stale\n{}",
                out.display(),
                changes.diff
            );
        }
    }
}

#[test]
fn review_against_every_version_kept_in_history() {
    let history = tempfile::tempdir().unwrap();
    for (version, from) in [
        ("v1", "good/design_example"),
        ("v2", "review/leaderboard_v3/old"),
    ] {
        let dir = history.path().join(version);
        std::fs::create_dir(&dir).unwrap();
        for file in rapyer_codegen::load::schema_files(Path::new(from)).unwrap() {
            std::fs::copy(&file, dir.join(file.file_name().unwrap())).unwrap();
        }
    }
    let versions = source::history(history.path()).unwrap();
    assert_eq!(versions.len(), 2);
    let new = source::from_dir(Path::new("review/leaderboard_v3/new")).unwrap();
    let reports: Vec<_> = versions
        .iter()
        .map(|(name, old)| (name.clone(), review(old, &new, Mode::Backward)))
        .collect();
    let streak = |r: &rapyer_codegen::review::Report| {
        r.findings
            .iter()
            .any(|f| f.rule.id == "RS010" && f.message.contains("`streak`"))
    };
    // Against v1 the streak field (added in v2) is new too; against v2 it is not.
    assert!(reports[0].0.ends_with("v1") && streak(&reports[0].1));
    assert!(reports[1].0.ends_with("v2") && !streak(&reports[1].1));
    assert!(
        reports
            .iter()
            .all(|(_, r)| r.exit_code(Severity::Breaking) == 0)
    );
    let text = rapyer_codegen::review::render::render_many(&reports, Format::Text);
    assert_eq!(text.matches("== against ").count(), 2, "{text}");
    let json: serde_json::Value = serde_json::from_str(
        &rapyer_codegen::review::render::render_many(&reports, Format::Json),
    )
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["old_version"], 2);
}
