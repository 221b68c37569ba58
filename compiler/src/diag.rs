//! Diagnostics: one per problem, each with a stable code, a primary span, optional secondary
//! spans and help. Rendered rustc-style by codespan-reporting, or as JSON for tools.

use crate::ast::Span;
use crate::check::Source;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use serde::Serialize;

/// What kind of problem a diagnostic reports. The slug is stable and used in summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The rule text does not follow the rule grammar.
    Syntax,
    /// A `;` is missing after an option.
    MissingSemicolon,
    /// A quoted string is not closed.
    UnterminatedString,
    /// A `|..|` hex block is not closed.
    UnterminatedHex,
    /// Bad hex digits in a content.
    BadHex,
    /// An unknown backslash escape.
    BadEscape,
    /// A line longer than the limit.
    LineTooLong,
    /// Control characters or invalid UTF-8 in rule text.
    BinaryGarbage,
    /// A keyword nobody defines.
    UnknownKeyword,
    /// A known keyword verdict cannot honour.
    UnsupportedKeyword,
    /// A keyword renamed or removed in later rule languages.
    ObsoleteKeyword,
    /// A malformed keyword value.
    BadValue,
    /// A malformed or impossible address.
    BadAddress,
    /// A malformed or impossible port.
    BadPort,
    /// An undefined `$VARIABLE`.
    UndefinedVariable,
    /// The rule has no `sid`.
    MissingSid,
    /// Two rules share a gid:sid.
    DuplicateSid,
    /// `distance`/`within` with no content before.
    RelativeWithoutContent,
    /// A content modifier with no content before.
    ModifierWithoutContent,
    /// depth/within shorter than the content.
    DepthTooShort,
    /// replace of a different length.
    ReplaceLength,
    /// Options that contradict each other.
    Conflict,
    /// An unknown classtype.
    UnknownClasstype,
}

impl Code {
    /// Short stable name, e.g. `duplicate-sid`.
    pub fn slug(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::MissingSemicolon => "missing-semicolon",
            Code::UnterminatedString => "unterminated-string",
            Code::UnterminatedHex => "unterminated-hex",
            Code::BadHex => "bad-hex",
            Code::BadEscape => "bad-escape",
            Code::LineTooLong => "line-too-long",
            Code::BinaryGarbage => "binary-garbage",
            Code::UnknownKeyword => "unknown-keyword",
            Code::UnsupportedKeyword => "unsupported-keyword",
            Code::ObsoleteKeyword => "obsolete-keyword",
            Code::BadValue => "bad-value",
            Code::BadAddress => "bad-address",
            Code::BadPort => "bad-port",
            Code::UndefinedVariable => "undefined-variable",
            Code::MissingSid => "missing-sid",
            Code::DuplicateSid => "duplicate-sid",
            Code::RelativeWithoutContent => "relative-without-content",
            Code::ModifierWithoutContent => "modifier-without-content",
            Code::DepthTooShort => "depth-too-short",
            Code::ReplaceLength => "replace-length",
            Code::Conflict => "conflict",
            Code::UnknownClasstype => "unknown-classtype",
        }
    }
    /// Numbered code shown in brackets, e.g. `V0016`.
    pub fn number(self) -> String {
        format!("V{:04}", self as u32 + 1)
    }
}

/// A secondary location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secondary {
    /// Index into the sources.
    pub file: usize,
    /// Where.
    pub span: Span,
    /// What is there.
    pub label: String,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The rule is rejected.
    Error,
    /// Reported only: e.g. a problem in a commented-out rule, which is not loaded anyway.
    Warning,
}

/// One problem found in the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Kind.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One-line message.
    pub message: String,
    /// Index into the sources the diagnostic refers to.
    pub file: usize,
    /// The offending text.
    pub span: Span,
    /// Label under the caret.
    pub label: String,
    /// Related places (e.g. the first rule with a duplicated sid).
    pub secondary: Vec<Secondary>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with an empty label and no help.
    pub fn new(code: Code, file: usize, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            file,
            span,
            label: String::new(),
            secondary: Vec::new(),
            help: None,
        }
    }
    /// Sets the label under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }
    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    /// Adds a secondary location.
    pub fn also(mut self, file: usize, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push(Secondary {
            file,
            span,
            label: label.into(),
        });
        self
    }
}

fn files(sources: &[Source]) -> SimpleFiles<&str, &str> {
    let mut files = SimpleFiles::new();
    for s in sources {
        files.add(s.name.as_str(), s.text.as_str());
    }
    files
}

fn to_codespan(d: &Diagnostic, sources: &[Source]) -> CsDiagnostic<usize> {
    let clamp = |file: usize, span: Span| {
        let len = sources.get(file).map_or(0, |s| s.text.len());
        let start = span.start.min(len);
        start..span.end.clamp(start, len)
    };
    let mut labels = vec![Label::primary(d.file, clamp(d.file, d.span)).with_message(&d.label)];
    for s in &d.secondary {
        labels.push(Label::secondary(s.file, clamp(s.file, s.span)).with_message(&s.label));
    }
    let base = match d.severity {
        Severity::Error => CsDiagnostic::error(),
        Severity::Warning => CsDiagnostic::warning(),
    };
    let mut out = base
        .with_code(d.code.number())
        .with_message(&d.message)
        .with_labels(labels);
    if let Some(h) = &d.help {
        out = out.with_notes(vec![format!("help: {h}")]);
    }
    out
}

/// Renders diagnostics like rustc: `error[V0001]: message`, ` --> file:line:col`, the source
/// line and a caret under the offending text.
pub fn render(diags: &[Diagnostic], sources: &[Source], color: bool) -> String {
    let files = files(sources);
    let config = term::Config::default();
    if color {
        let mut buf = termcolor::Buffer::ansi();
        for d in diags {
            let _ = term::emit_to_write_style(&mut buf, &config, &files, &to_codespan(d, sources));
        }
        String::from_utf8_lossy(buf.as_slice()).into_owned()
    } else {
        let mut out = String::new();
        for d in diags {
            let _ = term::emit_to_string(&mut out, &config, &files, &to_codespan(d, sources));
        }
        out
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut o = offset;
    while !text.is_char_boundary(o) {
        o -= 1;
    }
    let before = &text[..o];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..o].chars().count() + 1)
}

/// The JSON form of one diagnostic, with file name and line/column resolved.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    /// Numbered code.
    pub code: String,
    /// error or warning.
    pub severity: Severity,
    /// Slug of the code.
    pub reason: &'static str,
    /// Message.
    pub message: &'a str,
    /// File name.
    pub file: &'a str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Byte range.
    pub span: Span,
    /// Label.
    pub label: &'a str,
    /// Help.
    pub help: Option<&'a str>,
}

/// Converts diagnostics into their JSON form.
pub fn to_json<'a>(diags: &'a [Diagnostic], sources: &'a [Source]) -> Vec<JsonDiagnostic<'a>> {
    diags
        .iter()
        .map(|d| {
            let (file, text) = sources
                .get(d.file)
                .map_or(("", ""), |s| (s.name.as_str(), s.text.as_str()));
            let (line, column) = line_col(text, d.span.start);
            JsonDiagnostic {
                code: d.code.number(),
                severity: d.severity,
                reason: d.code.slug(),
                message: &d.message,
                file,
                line,
                column,
                span: d.span,
                label: &d.label,
                help: d.help.as_deref(),
            }
        })
        .collect()
}
