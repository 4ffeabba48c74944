//! Syntax errors, in words a user knows (never pest rule names).

use crate::ast::Span;
use crate::parser::{rule_name, Rule};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SyntaxErrorKind {
    /// Something unexpected where the grammar wanted something else.
    Unexpected,
    /// A `(`, `[` or `{` without its closing partner.
    UnclosedDelimiter,
    /// A closing `)`, `]` or `}` without an opening partner.
    UnmatchedDelimiter,
    /// A string without its closing quote.
    UnterminatedString,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub span: Span,
    pub message: String,
    /// What a fix could look like.
    pub help: Option<String>,
    /// A second place involved (the opening bracket of an unclosed block).
    pub related: Option<(Span, String)>,
}

impl SyntaxError {
    /// Translate a pest error on `chunk` (which starts at byte `offset` of the file).
    pub(crate) fn from_pest(
        e: pest::error::Error<Rule>,
        chunk: &str,
        offset: usize,
    ) -> SyntaxError {
        if let Some(err) = delimiter_error(chunk, offset) {
            return err;
        }
        let pos = match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((s, _)) => s,
        };
        let mut pos = pos;
        let mut found = token_at(chunk, pos);
        // `name: value` inside a block (the YAML habit): pest stops at the name; the mistake is the colon.
        let after_word = chunk[pos + found.len()..].trim_start_matches([' ', '\t']);
        if found.chars().next().is_some_and(|c| c.is_alphabetic()) && after_word.starts_with(':') {
            pos = chunk.len() - after_word.len();
            found = ":".to_string();
        }
        let expected: Vec<&'static str> = match &e.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => {
                let mut v: Vec<&'static str> =
                    positives.iter().filter_map(|r| rule_name(*r)).collect();
                v.sort();
                v.dedup();
                v
            }
            pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
        };
        let found_text = if found.is_empty() {
            "the end of the declaration".to_string()
        } else {
            format!("`{found}`")
        };
        // After a complete value pest lists every way it could go on (operators, `.`, `(`, ...) besides the end;
        // the useful statement is that the declaration should have ended.
        let message = if expected.contains(&"end of the declaration") && !found.is_empty() {
            format!("unexpected {found_text}: the declaration should end before it")
        } else if expected.is_empty() {
            format!("unexpected {found_text}")
        } else {
            format!("expected {}, found {found_text}", join_or(&expected))
        };
        let help = if found == ":" && expected.iter().any(|e| e.contains('=')) {
            Some("fields and arguments are written `name = value`, not `name: value`".to_string())
        } else if found == "=" && expected.contains(&"a value") {
            Some("a value is missing before `=`".to_string())
        } else {
            None
        };
        // At the end of the item, point at the last token written instead of at nothing.
        if found.is_empty() {
            let trimmed = chunk[..pos].trim_end();
            pos = trimmed
                .len()
                .saturating_sub(trimmed.chars().last().map(char::len_utf8).unwrap_or(0));
        }
        let end = if found.is_empty() {
            chunk[..].len().min(pos + 1)
        } else {
            pos + found.len()
        };
        SyntaxError {
            kind: SyntaxErrorKind::Unexpected,
            span: Span::new(offset + pos, offset + end),
            message,
            help,
            related: None,
        }
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [a] => a.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The token at `pos`: a word, a number, a string start or one symbol; empty at the end.
fn token_at(chunk: &str, pos: usize) -> String {
    let rest = &chunk[pos.min(chunk.len())..];
    let mut chars = rest.chars();
    match chars.next() {
        None => String::new(),
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect(),
        Some(c) => c.to_string(),
    }
}

/// Unclosed or unmatched brackets and unterminated strings are reported as such, at the right spot, rather than
/// as whatever pest happened to stop at.
fn delimiter_error(chunk: &str, offset: usize) -> Option<SyntaxError> {
    let bytes = chunk.as_bytes();
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = chunk[i..].find('\n').map(|n| i + n).unwrap_or(bytes.len());
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = chunk[i + 2..]
                    .find("*/")
                    .map(|n| i + 4 + n)
                    .unwrap_or(bytes.len());
                continue;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => {
                            return Some(SyntaxError {
                                kind: SyntaxErrorKind::UnterminatedString,
                                span: Span::new(offset + start, offset + i),
                                message: "this string is not closed".into(),
                                help: Some("add a closing `\"` on the same line".into()),
                                related: None,
                            })
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        _ => i += 1,
                    }
                }
            }
            c @ (b'(' | b'[' | b'{') => stack.push((c, i)),
            c @ (b')' | b']' | b'}') => {
                let want = match c {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                match stack.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        return Some(SyntaxError {
                            kind: SyntaxErrorKind::UnclosedDelimiter,
                            span: Span::new(offset + i, offset + i + 1),
                            message: format!("`{}` does not close `{}`", c as char, open as char),
                            help: Some(format!(
                                "close `{}` with `{}` first",
                                open as char,
                                closer(open)
                            )),
                            related: Some((
                                Span::new(offset + at, offset + at + 1),
                                "opened here".into(),
                            )),
                        })
                    }
                    None => {
                        return Some(SyntaxError {
                            kind: SyntaxErrorKind::UnmatchedDelimiter,
                            span: Span::new(offset + i, offset + i + 1),
                            message: format!("`{}` has no opening `{}`", c as char, want as char),
                            help: Some("remove it, or add the opening bracket".into()),
                            related: None,
                        })
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop().map(|(open, at)| SyntaxError {
        kind: SyntaxErrorKind::UnclosedDelimiter,
        span: Span::new(offset + at, offset + at + 1),
        message: format!("`{}` is not closed", open as char),
        help: Some(format!(
            "add `{}` at the end of the declaration",
            closer(open)
        )),
        related: None,
    })
}

fn closer(open: u8) -> char {
    match open {
        b'(' => ')',
        b'[' => ']',
        _ => '}',
    }
}
