//! Table macros laid out one entry per line.
//!
//! Generated code states some things as tables read by the runtime's macros (`rt::record! { ... }`,
//! one line per field). prettyplease prints a macro's tokens as one flowing paragraph, which
//! breaks entries in the middle; so the tables, written one entry per line by the templates, are
//! set aside before formatting (a numbered placeholder stands in) and put back after, each line
//! re-indented to where the placeholder landed.
//!
//! A table opens with a line `rt::<macro>! {` and ends at the first line that is `}`: no entry
//! line is one, since entries begin with a name and every literal in them is escaped onto one line.

/// Text with its tables replaced by placeholders, and the tables' entry lines.
pub struct SetAside {
    /// The text to format.
    pub text: String,
    /// Each table's entry lines, trimmed, by placeholder number.
    tables: Vec<Vec<String>>,
}

fn opens_table(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("rt::") && line.ends_with("! {")
}

/// Sets the tables of `raw` aside.
pub fn set_aside(raw: &str) -> SetAside {
    let mut text = String::with_capacity(raw.len());
    let mut tables = Vec::new();
    let mut lines = raw.lines();
    while let Some(line) = lines.next() {
        text.push_str(line);
        text.push('\n');
        if opens_table(line) {
            let entries: Vec<String> = lines
                .by_ref()
                .take_while(|l| l.trim() != "}")
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            text.push_str(&format!("{}\n}}\n", tables.len()));
            tables.push(entries);
        }
    }
    SetAside { text, tables }
}

impl SetAside {
    /// Puts the tables back into `formatted` (the formatted placeholder text).
    pub fn restore(&self, formatted: &str) -> String {
        let mut out = String::with_capacity(formatted.len() * 2);
        let mut in_table = false;
        for line in formatted.lines() {
            let placeholder = in_table
                .then(|| line.trim().parse::<usize>().ok())
                .flatten()
                .and_then(|n| self.tables.get(n));
            match placeholder {
                Some(entries) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    for entry in entries {
                        out.push_str(indent);
                        out.push_str(entry);
                        out.push('\n');
                    }
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            in_table = opens_table(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_survives_formatting_one_entry_per_line() {
        let raw = "impl X {\n rt::record! {\n model:\n  id: field(\"id\"),\n  n: field(\"n\", 0i64),\n}\n}\n";
        let aside = set_aside(raw);
        let formatted = prettyplease::unparse(&syn::parse_file(&aside.text).unwrap());
        assert_eq!(
            aside.restore(&formatted),
            "impl X {\n    rt::record! {\n        model:\n        id: field(\"id\"),\n        \
             n: field(\"n\", 0i64),\n    }\n}\n"
        );
    }
}
