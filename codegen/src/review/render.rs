//! Formats a [`Report`]: text for terminals, markdown for a pull-request comment, JSON for tools,
//! and GitHub workflow annotations.

use std::fmt::Write as _;

use super::{Choice, Finding, Report, Severity};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `file:line:col: RULE severity: message`, then a summary line.
    Text,
    /// A markdown section for a pull-request comment.
    Markdown,
    /// The report as JSON.
    Json,
    /// GitHub Actions annotations (`::error file=...`).
    Github,
}

impl Choice for Format {
    const ALL: &'static [Self] = &[Format::Text, Format::Markdown, Format::Json, Format::Github];
    const NAMES: &'static [&'static str] = &["text", "markdown", "json", "github"];
}

/// Renders reports of one schema against several versions (`--history`): each under a heading
/// naming the version's directory (one JSON array for `json`).
pub fn render_many(reports: &[(String, Report)], format: Format) -> String {
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = reports
                .iter()
                .map(|(against, r)| {
                    let mut v: serde_json::Value =
                        serde_json::from_str(&json(r)).unwrap_or_default();
                    v["against"] = serde_json::Value::String(against.clone());
                    v
                })
                .collect();
            serde_json::to_string_pretty(&items).unwrap_or_default() + "\n"
        }
        Format::Github => reports.iter().map(|(_, r)| github(r)).collect(),
        Format::Text | Format::Markdown => reports
            .iter()
            .map(|(against, r)| {
                let heading = if format == Format::Text { "==" } else { "##" };
                format!("{heading} against {against}\n\n{}\n", render(r, format))
            })
            .collect(),
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Markdown => markdown(report),
        Format::Json => json(report),
        Format::Github => github(report),
    }
}

fn counts(report: &Report) -> String {
    let n = |s| report.findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} errors, {} breaking, {} warnings, {} info",
        n(Severity::Error),
        n(Severity::Breaking),
        n(Severity::Warning),
        n(Severity::Info)
    )
}

fn where_(f: &Finding) -> String {
    format!(
        "{}:{}:{}",
        f.location.path.display(),
        f.location.line,
        f.location.column
    )
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let _ = writeln!(
            out,
            "{}: {} {}: {}",
            where_(f),
            f.rule.id,
            f.severity.name(),
            f.message
        );
    }
    let _ = writeln!(
        out,
        "schema version {} -> {}, {} mode: {}",
        report.old_version,
        report.new_version,
        report.mode.name(),
        counts(report)
    );
    out
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let verdict = match report.worst() {
        Some(Severity::Error) => "needs a version bump",
        Some(Severity::Breaking) => "has incompatible changes",
        Some(Severity::Warning) => "is compatible, with actions to take",
        _ => "is compatible",
    };
    let _ = writeln!(
        out,
        "### Schema review: version {} -> {} {verdict}\n",
        report.old_version, report.new_version
    );
    let _ = writeln!(out, "Mode `{}`: {}.\n", report.mode.name(), counts(report));
    if report.findings.is_empty() {
        out.push_str("No change.\n");
        return out;
    }
    out.push_str("| | rule | change | new reads old | old reads new | where |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for f in &report.findings {
        let _ = writeln!(
            out,
            "| {} | `{}` {} | {} | {} | {} | `{}` |",
            f.severity.name(),
            f.rule.id,
            f.rule.name,
            f.message.replace('|', "\\|"),
            yes_no(f.backward),
            yes_no(f.forward),
            where_(f)
        );
    }
    out
}

fn json(report: &Report) -> String {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "rule": f.rule.id,
                "name": f.rule.name,
                "severity": f.severity.name(),
                "backward": f.backward,
                "forward": f.forward,
                "message": f.message,
                "file": f.location.path.display().to_string(),
                "line": f.location.line,
                "column": f.location.column,
            })
        })
        .collect();
    let value = serde_json::json!({
        "mode": report.mode.name(),
        "old_version": report.old_version,
        "new_version": report.new_version,
        "findings": findings,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// GitHub escapes `%`, CR and LF in annotation messages.
fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let level = match f.severity {
            Severity::Error | Severity::Breaking => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let _ = writeln!(
            out,
            "::{level} file={},line={},col={},title={} {}::{}",
            escape(&f.location.path.display().to_string()).replace(',', "%2C"),
            f.location.line,
            f.location.column,
            f.rule.id,
            f.rule.name,
            escape(&f.message)
        );
    }
    out
}
