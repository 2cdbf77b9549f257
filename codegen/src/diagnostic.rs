//! Diagnostics: a problem in a schema, with the file, line, column and a rendered source snippet.

use std::fmt;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

/// Index of a source file in a [`SourceMap`].
pub type FileId = usize;

/// A region of a schema file: where a name, type or value was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// The file the region is in.
    pub file: FileId,
    /// 1-based line of the first character.
    pub line: u32,
    /// 1-based column (in characters) of the first character.
    pub column: u32,
    /// Byte offset of the first character in the file.
    pub start: usize,
    /// Length in bytes (at least 1 when the source has text there).
    pub len: usize,
}

impl Span {
    /// A span `len` bytes long starting `offset` bytes (and characters) into this one.
    /// Used to point inside a scalar, such as the `flot` in `list<flot>`.
    pub fn sub(self, offset: usize, len: usize) -> Span {
        Span {
            column: self.column + offset as u32,
            start: self.start + offset,
            len,
            ..self
        }
    }
}

/// The schema files of one run, so that diagnostics can show file names and snippets.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

/// One schema file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as it should be shown to the user.
    pub path: PathBuf,
    /// The whole text of the file.
    pub text: String,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile { path, text });
        self.files.len() - 1
    }

    /// The file with this id.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// All files, in the order they were added.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Path of a file, for messages.
    pub fn path(&self, id: FileId) -> &Path {
        &self.files[id].path
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Generation is refused.
    Error,
    /// Generation goes on, but something deserves attention.
    Warning,
}

/// One problem found in the schemas.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where the problem is.
    pub span: Span,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Label under the highlighted source, if it adds something.
    pub label: Option<String>,
    /// A hint on how to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            label: None,
            help: None,
        }
    }

    /// Adds a label under the highlighted source.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a hint on how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column`, the way editors and CI annotations expect it.
    pub fn location(&self, sources: &SourceMap) -> String {
        format!(
            "{}:{}:{}",
            sources.path(self.span.file).display(),
            self.span.line,
            self.span.column
        )
    }

    /// Renders the diagnostic with a source snippet (plain text, no colours).
    pub fn render(&self, sources: &SourceMap) -> String {
        let file = sources.file(self.span.file);
        let text = file.text.as_str();
        let start = self.span.start.min(text.len());
        // Highlight at most to the end of the first line: multi-line nodes would drown the point.
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let end = (start + self.span.len.max(1)).min(line_end).max(start);
        let path = file.path.display().to_string();
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut annotation = AnnotationKind::Primary.span(start..end);
        if let Some(label) = &self.label {
            annotation = annotation.label(label.as_str());
        }
        let mut group = level.primary_title(self.message.as_str()).element(
            Snippet::source(text)
                .path(path.as_str())
                .annotation(annotation),
        );
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        Renderer::plain().render(&[group])
    }
}

/// All the diagnostics of one run, rendered one after another.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The problems, sorted by file and position.
    pub items: Vec<Diagnostic>,
    /// The sources they point into.
    pub sources: SourceMap,
}

impl Diagnostics {
    /// Number of errors (warnings excluded).
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{}", d.render(&self.sources))?;
        }
        let errors = self.error_count();
        write!(
            f,
            "{errors} error{} found; nothing was generated",
            if errors == 1 { "" } else { "s" }
        )
    }
}
