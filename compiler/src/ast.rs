//! Syntax tree of one rule as written, with byte spans into the source file. Values are
//! kept as raw text: the keyword parsers in [`crate::keywords`] give them meaning.

use serde::Serialize;

/// A half-open byte range `start..end` into a source file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// Builds a span.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// A sub-span given offsets relative to this span's start (clamped to this span).
    pub fn sub(self, rel_start: usize, rel_end: usize) -> Span {
        let s = (self.start + rel_start).min(self.end);
        let e = (self.start + rel_end).clamp(s, self.end);
        Span { start: s, end: e }
    }
    /// The range form, for slicing and for codespan.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// A piece of source text with its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    /// The text exactly as written.
    pub text: &'a str,
    /// Where it is.
    pub span: Span,
}

/// An address or port expression: an atom, a bracketed list, or a negation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListExpr<'a> {
    /// `any`, `$VAR`, `10.0.0.0/8`, `80`, `1024:` …
    Atom(Node<'a>),
    /// `[a, b, …]`
    List(Vec<ListExpr<'a>>, Span),
    /// `!x`
    Not(Box<ListExpr<'a>>, Span),
}

impl ListExpr<'_> {
    /// The span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            ListExpr::Atom(n) => n.span,
            ListExpr::List(_, s) | ListExpr::Not(_, s) => *s,
        }
    }
}

/// One `keyword[:value];` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionAst<'a> {
    /// Keyword name.
    pub name: Node<'a>,
    /// Value after the colon, trimmed, if any.
    pub value: Option<Node<'a>>,
    /// The whole option including the `;`.
    pub span: Span,
}

/// One rule as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAst<'a> {
    /// The rule text (for a commented rule, without the leading `#`).
    pub span: Span,
    /// True if it was a commented-out rule.
    pub commented: bool,
    /// Action keyword.
    pub action: Node<'a>,
    /// Protocol name.
    pub protocol: Node<'a>,
    /// Source addresses.
    pub src: ListExpr<'a>,
    /// Source ports.
    pub src_ports: ListExpr<'a>,
    /// `->` or `<>`.
    pub direction: Node<'a>,
    /// Destination addresses.
    pub dst: ListExpr<'a>,
    /// Destination ports.
    pub dst_ports: ListExpr<'a>,
    /// Options in order.
    pub options: Vec<OptionAst<'a>>,
    /// Snort 3 short header (`alert http (...)`): addresses and ports were left out and are
    /// `any` (their nodes have empty spans after the protocol).
    pub short_header: bool,
}
