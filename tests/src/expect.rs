//! Expected-output files ("snapshots"): compare, or rewrite them with `UPDATE_SNAPSHOTS=1`.

use std::path::Path;

/// True when snapshots should be rewritten instead of compared.
pub fn updating() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1")
}

/// Asserts that `path` holds `actual` (or writes it when updating), with a line diff on failure.
pub fn assert_file(path: &Path, actual: &str) {
    if updating() {
        std::fs::write(path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        let diff = similar_diff(&expected, actual);
        panic!(
            "{} differs from the actual output (rerun with UPDATE_SNAPSHOTS=1 to accept):\n{diff}",
            path.display()
        );
    }
}

/// A unified diff (3 lines of context), so an inserted or removed line shows as itself rather
/// than as every following line changed.
fn similar_diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}
