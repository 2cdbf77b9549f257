//! Type expressions: `int`, `list<Achievement>`, `map<string, optional<float>>`.
//!
//! Parsed by hand (the grammar is four tokens) so that every error points at the exact column
//! inside the YAML scalar.

/// A parsed, not yet resolved, type expression.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    /// The type's name (`list`, `int`, `PlayerStats`).
    pub name: String,
    /// Generic arguments.
    pub args: Vec<TypeExpr>,
    /// Byte offset of the name within the expression text.
    pub offset: usize,
}

/// A syntax error in a type expression, at a byte offset of the text.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeSyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where, as a byte offset.
    pub offset: usize,
    /// How many bytes to highlight.
    pub len: usize,
}

/// Parses a whole type expression.
pub fn parse(text: &str) -> Result<TypeExpr, TypeSyntaxError> {
    let mut parser = Parser { text, pos: 0 };
    let ty = parser.ty()?;
    parser.skip_ws();
    if parser.pos < text.len() {
        return Err(parser.error(format!(
            "unexpected `{}` after the type",
            &text[parser.pos..]
        )));
    }
    Ok(ty)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }

    fn error(&self, message: String) -> TypeSyntaxError {
        let len = self.text[self.pos..]
            .chars()
            .next()
            .map_or(1, char::len_utf8);
        TypeSyntaxError {
            message,
            offset: self.pos,
            len,
        }
    }

    fn ty(&mut self) -> Result<TypeExpr, TypeSyntaxError> {
        self.skip_ws();
        let start = self.pos;
        let len = self.text[start..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.text.len() - start);
        if len == 0 {
            return Err(match self.text[start..].chars().next() {
                None => self.error("expected a type name, found the end of the type".into()),
                Some(c) => self.error(format!("expected a type name, found `{c}`")),
            });
        }
        self.pos += len;
        let name = self.text[start..self.pos].to_string();
        let mut args = Vec::new();
        self.skip_ws();
        if self.text[self.pos..].starts_with('<') {
            self.pos += 1;
            loop {
                args.push(self.ty()?);
                self.skip_ws();
                match self.text[self.pos..].chars().next() {
                    Some(',') => self.pos += 1,
                    Some('>') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => return Err(self.error(format!("expected `,` or `>`, found `{c}`"))),
                    None => {
                        return Err(self.error(format!("`{name}<` is not closed: expected `>`")));
                    }
                }
            }
        }
        Ok(TypeExpr {
            name,
            args,
            offset: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_types_with_offsets() {
        let t = parse("map<string, list<Achievement>>").unwrap();
        assert_eq!(t.name, "map");
        assert_eq!(t.args[0].name, "string");
        assert_eq!(t.args[1].name, "list");
        assert_eq!(t.args[1].offset, 12);
        assert_eq!(t.args[1].args[0].name, "Achievement");
        assert_eq!(t.args[1].args[0].offset, 17);
    }

    #[test]
    fn reports_unclosed_and_trailing() {
        assert!(
            parse("list<int")
                .unwrap_err()
                .message
                .contains("not closed")
        );
        let e = parse("int int").unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(
            parse("list<>")
                .unwrap_err()
                .message
                .contains("expected a type name")
        );
        assert!(parse("").is_err());
    }
}
