//! Naming rules: which schema names are accepted, and how they become Rust identifiers.
//!
//! Names that are Rust keywords are rejected rather than escaped: a field called `type` would
//! need `r#type` everywhere in user code, and some keywords (`self`, `crate`) cannot be escaped at
//! all. One rule, stated in the diagnostic, is easier to live with than a mix.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Every Rust keyword, strict and reserved, of the 2015-2024 editions.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// True if `name` is a Rust keyword.
pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// Type names (models, structs, enums): UpperCamelCase ASCII, such as `PlayerStats`.
pub fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Field names: snake_case ASCII starting with a letter, such as `total_games`.
pub fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Enum variant names: ASCII letters, digits and `_`, starting with a letter (`first_win`, `Gold`).
pub fn is_variant_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The Rust variant name for a schema variant: `first_win` -> `FirstWin`.
pub fn variant_ident(name: &str) -> String {
    name.to_upper_camel_case()
}

/// The module (and file) name for a type: `PlayerStats` -> `player_stats`.
pub fn module_name(type_name: &str) -> String {
    type_name.to_snake_case()
}

/// A suggestion for a rejected type name: `player_stats` -> `PlayerStats`.
pub fn suggest_type_name(name: &str) -> String {
    name.to_upper_camel_case()
}

/// A suggestion for a rejected field name: `totalGames` -> `total_games`.
pub fn suggest_field_name(name: &str) -> String {
    name.to_snake_case()
}

/// Key prefixes: no braces (they would break the `{pk}` hash tag), no spaces, not empty.
pub fn is_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        && !prefix.ends_with(':')
        && !prefix.starts_with(':')
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

/// Orders names the way rustfmt (style edition 2024) orders `use` items: `_` before digits before
/// letters, digit runs compared as numbers. Generated `mod.rs` must already be in that order for
/// `cargo fmt --check` to pass on committed generated code.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(u8, u128, String)> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                let mut run = c.to_string();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    run.push(d);
                }
                out.push((1, run.parse().unwrap_or(u128::MAX), run));
            } else {
                out.push((if c == '_' { 0 } else { 2 }, c as u128, c.to_string()));
            }
        }
        out
    }
    chunks(a).cmp(&chunks(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(is_type_name("PlayerStats"));
        assert!(!is_type_name("player_stats"));
        assert!(!is_type_name("Player_Stats"));
        assert!(is_field_name("total_games"));
        assert!(!is_field_name("totalGames"));
        assert!(!is_field_name("_hidden"));
        assert!(!is_field_name("my-field"));
        assert!(is_variant_name("first_win"));
        assert_eq!(variant_ident("first_win"), "FirstWin");
        assert_eq!(variant_ident("streak_10"), "Streak10");
        assert_eq!(module_name("PlayerStats"), "player_stats");
        assert!(is_keyword("type") && is_keyword("Self") && !is_keyword("score"));
        assert!(
            is_prefix("game:player") && !is_prefix("a{b}") && !is_prefix("") && !is_prefix("a b")
        );
        assert_eq!(
            did_you_mean("tpye", ["type", "default", "doc", "index"]),
            Some("type")
        );
        assert_eq!(did_you_mean("zzzzzz", ["type"]), None);
        let mut names = vec![
            "playerx",
            "player10",
            "player2",
            "player_stats",
            "player",
            "ab",
            "a2b",
            "a_b",
        ];
        names.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            names,
            [
                "a_b",
                "a2b",
                "ab",
                "player",
                "player_stats",
                "player2",
                "player10",
                "playerx"
            ]
        );
    }
}
