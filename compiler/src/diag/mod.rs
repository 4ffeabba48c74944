//! Diagnostics: a code, a message, labelled spans naming every source involved, and a help line. Rendered for
//! humans with miette, or as JSON lines for editors and CI.

mod codes;

pub use codes::Code;

use crate::db::{FileId, Files};
use sam3c_lang::ast::Span;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A place in a file with what it has to do with the diagnostic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub file: FileId,
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// The first label is the primary one: where the problem is.
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn severity(&self) -> Severity {
        if self.code.is_warning() {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// The place of the problem.
    pub fn primary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.insert(
            0,
            Label {
                file,
                span,
                message: message.into(),
                primary: true,
            },
        );
        self
    }

    /// Another place involved.
    pub fn secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// (file, start offset) of the primary label, to sort diagnostics in source order.
    pub fn position(&self) -> (FileId, u32) {
        self.labels
            .first()
            .map(|l| (l.file, l.span.start))
            .unwrap_or((FileId(u32::MAX), 0))
    }
}

/// How to render for humans.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
        }
    }
}

/// Render one diagnostic with miette: the source lines with the labels under them, the help, the notes.
pub fn render(d: &Diagnostic, files: &Files, opts: RenderOptions) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false);
    let report = Report::build(d, files);
    let mut out = String::new();
    // Rendering into a String cannot fail.
    let _ = handler.render_report(&mut out, &report);
    out
}

/// JSON lines for editors and CI: one object per diagnostic with file, range, code, severity, message, help.
pub fn to_json(d: &Diagnostic, files: &Files) -> serde_json::Value {
    let position = |file: FileId, offset: u32| {
        let (line, column) = files.get(file).line_col(offset as usize);
        serde_json::json!({ "line": line, "column": column, "offset": offset })
    };
    let labels: Vec<serde_json::Value> = d
        .labels
        .iter()
        .map(|l| {
            serde_json::json!({
                "file": files.get(l.file).path.display().to_string(),
                "start": position(l.file, l.span.start),
                "end": position(l.file, l.span.end),
                "message": l.message,
                "primary": l.primary,
            })
        })
        .collect();
    let primary = d.labels.first();
    serde_json::json!({
        "file": primary.map(|l| files.get(l.file).path.display().to_string()),
        "range": primary.map(|l| serde_json::json!({"start": position(l.file, l.span.start), "end": position(l.file, l.span.end)})),
        "code": d.code.as_str(),
        "severity": d.severity(),
        "message": d.message,
        "help": d.help,
        "notes": d.notes,
        "labels": labels,
    })
}

/// Labels further than this many lines from the primary one are shown in a separate snippet.
const MAX_LABEL_DISTANCE: usize = 6;

/// A diagnostic as miette wants it. Labels in other files than the primary one become related reports.
#[derive(Debug)]
struct Report {
    code: &'static str,
    message: String,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<miette::NamedSource<String>>,
    labels: Vec<miette::LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn build(d: &Diagnostic, files: &Files) -> Report {
        let severity = if d.code.is_warning() {
            miette::Severity::Warning
        } else {
            miette::Severity::Error
        };
        let primary_file = d.labels.first().map(|l| l.file);
        let primary_line = d
            .labels
            .first()
            .map(|l| files.get(l.file).line_col(l.span.start as usize).0);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for l in &d.labels {
            let span = miette::SourceSpan::new((l.span.start as usize).into(), l.span.len());
            let text = if l.message.is_empty() {
                None
            } else {
                Some(l.message.clone())
            };
            // miette prints every line between two labels; a far-away label gets its own snippet instead.
            let line = files.get(l.file).line_col(l.span.start as usize).0;
            let near = primary_line.is_some_and(|p| p.abs_diff(line) <= MAX_LABEL_DISTANCE);
            if Some(l.file) == primary_file && (l.primary || near) {
                labels.push(if l.primary {
                    miette::LabeledSpan::new_primary_with_span(text, span)
                } else {
                    miette::LabeledSpan::new_with_span(text, span)
                });
            } else {
                let f = files.get(l.file);
                related.push(Report {
                    code: "",
                    message: l.message.clone(),
                    severity: miette::Severity::Advice,
                    help: None,
                    source: Some(named(f)),
                    labels: vec![miette::LabeledSpan::new_with_span(None, span)],
                    related: Vec::new(),
                });
            }
        }
        let mut help = d.help.clone();
        for n in &d.notes {
            help = Some(match help {
                Some(h) => format!("{h}\nnote: {n}"),
                None => format!("note: {n}"),
            });
        }
        Report {
            code: d.code.as_str(),
            message: d.message.clone(),
            severity,
            help,
            source: primary_file.map(|f| named(files.get(f))),
            labels,
            related,
        }
    }
}

fn named(f: &crate::db::SourceFile) -> miette::NamedSource<String> {
    miette::NamedSource::new(f.path.display().to_string(), f.text.clone())
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        if self.code.is_empty() {
            None
        } else {
            Some(Box::new(self.code))
        }
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}
