//! A lexical pre-pass over the whole file: it collects comments (the formatter re-attaches them) and splits the
//! file into top-level items, so that each item is parsed on its own and one broken declaration cannot hide the
//! errors of the others.
//!
//! Splitting rules, outside strings and comments:
//! * at bracket depth 0, a line that starts with a name begins a new item, unless the previous token leaves the
//!   expression open (`=`, `,`, an operator, `with`, ...) or the name is a continuation keyword (`with`, `after`);
//! * inside brackets, a line that starts *in column 0* with a declaration header (`word word`, `word {`, or
//!   `import`) also begins a new item: the previous item left a bracket open, and we recover there.

use crate::ast::{Comment, Span};

pub struct Scan {
    pub comments: Vec<Comment>,
    /// Byte ranges of the items, in order. Each contains no leading blank lines.
    pub items: Vec<Span>,
}

const CONTINUATION_WORDS: &[&str] = &["with", "after", "as", "in"];

pub fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut comments = Vec::new();
    let mut items = Vec::new();
    let mut item_start: Option<usize> = None;
    let mut depth: i32 = 0;
    // The last significant character outside comments (for the "expression left open" rule).
    let mut last_significant: Option<u8> = None;
    let mut last_word = String::new();
    let mut i = 0;
    let mut at_line_start = true;

    let close_item = |items: &mut Vec<Span>, start: Option<usize>, end: usize| {
        if let Some(s) = start {
            let trimmed = text[s..end].trim_end();
            if !trimmed.is_empty() {
                items.push(Span::new(s, s + trimmed.len()));
            }
        }
    };

    while i < bytes.len() {
        if at_line_start {
            // Find the first non-blank character of this line.
            let mut j = i;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t' || bytes[j] == b'\r') {
                j += 1;
            }
            let column = j - i;
            if j < bytes.len() && bytes[j] != b'\n' {
                let starts_word = is_ident_start(bytes[j]);
                let word = word_at(text, j);
                let starts_comment =
                    bytes[j] == b'/' && matches!(bytes.get(j + 1), Some(b'/' | b'*'));
                let begins_item = if item_start.is_none() {
                    !starts_comment
                } else if depth <= 0 {
                    starts_word
                        && !CONTINUATION_WORDS.contains(&word)
                        && (!leaves_expression_open(last_significant, &last_word)
                            || (column == 0 && looks_like_header(text, j)))
                } else {
                    column == 0 && starts_word && looks_like_header(text, j)
                };
                if begins_item {
                    close_item(&mut items, item_start, j);
                    item_start = Some(j);
                    depth = 0;
                    last_significant = None;
                    last_word.clear();
                }
            }
            at_line_start = false;
            i = j;
            continue;
        }
        let c = bytes[i];
        match c {
            b'\n' => {
                at_line_start = true;
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map(|n| i + n).unwrap_or(bytes.len());
                comments.push(Comment {
                    text: text[i..end].trim_end().to_string(),
                    span: Span::new(i, end),
                });
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map(|n| i + 2 + n + 2)
                    .unwrap_or(bytes.len());
                comments.push(Comment {
                    text: text[i..end].to_string(),
                    span: Span::new(i, end),
                });
                i = end;
            }
            b'"' => {
                i = skip_string(bytes, i);
                last_significant = Some(b'"');
                last_word.clear();
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                last_significant = Some(c);
                last_word.clear();
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                last_significant = Some(c);
                last_word.clear();
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            _ if is_ident_start(c) => {
                let w = word_at(text, i);
                last_word = w.to_string();
                last_significant = Some(b'a');
                i += w.len().max(1);
            }
            _ => {
                last_significant = Some(c);
                last_word.clear();
                // Advance by one UTF-8 character.
                i += text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
            }
        }
    }
    close_item(&mut items, item_start, bytes.len());
    Scan { comments, items }
}

fn leaves_expression_open(last: Option<u8>, last_word: &str) -> bool {
    match last {
        Some(b'=' | b',' | b':' | b'+' | b'-' | b'*' | b'/' | b'|' | b'.' | b'(' | b'[' | b'{') => {
            true
        }
        Some(b'a') => CONTINUATION_WORDS.contains(&last_word) || last_word == "import",
        _ => false,
    }
}

/// `word word`, `word {` or `import` at this position.
fn looks_like_header(text: &str, at: usize) -> bool {
    let first = word_at(text, at);
    if first == "import" {
        return true;
    }
    let rest = text[at + first.len()..].trim_start_matches([' ', '\t']);
    match rest.as_bytes().first() {
        Some(b'{') => true,
        Some(&c) if is_ident_start(c) => !CONTINUATION_WORDS.contains(&word_at(rest, 0)),
        _ => false,
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn word_at(text: &str, at: usize) -> &str {
    let bytes = text.as_bytes();
    let mut end = at;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    &text[at..end]
}

/// The index just past the closing quote (or the end of the line for an unterminated string).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<&str> {
        scan(text).items.iter().map(|s| &text[s.range()]).collect()
    }

    #[test]
    fn splits_top_level_declarations() {
        let t = "param a: Int = 1\n\ndataset d = coco_images {\n  images = \"x\"\n}\nstage s { model = m }\n";
        assert_eq!(
            items(t),
            vec![
                "param a: Int = 1",
                "dataset d = coco_images {\n  images = \"x\"\n}",
                "stage s { model = m }"
            ]
        );
    }

    #[test]
    fn open_expressions_continue_on_the_next_line() {
        let t = "param a: Float =\n  lr\nlet b = base\n  with { x = 1 }\nlet c = d\n";
        assert_eq!(
            items(t),
            vec![
                "param a: Float =\n  lr",
                "let b = base\n  with { x = 1 }",
                "let c = d"
            ]
        );
    }

    #[test]
    fn an_unclosed_block_ends_at_the_next_header_in_column_zero() {
        let t = "stage a {\n  model = m\n\nstage b {\n  model = m\n}\n";
        assert_eq!(
            items(t),
            vec!["stage a {\n  model = m", "stage b {\n  model = m\n}"]
        );
    }

    #[test]
    fn comments_and_strings_do_not_confuse_brackets() {
        let t = "let a = \"{ not a block\" // } neither\nlet b = 2 /* { */\n";
        let s = scan(t);
        assert_eq!(
            items(t),
            vec![
                "let a = \"{ not a block\" // } neither",
                "let b = 2 /* { */"
            ]
        );
        assert_eq!(
            s.comments
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>(),
            vec!["// } neither", "/* { */"]
        );
    }
}
