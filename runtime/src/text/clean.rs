//! The text cleaning upstream's tokenizer applies before BPE (`_clean_lower`): `ftfy.fix_text`, two rounds of
//! `html.unescape`, whitespace collapsing, lower case.
//!
//! Of ftfy 6.3's default fixes, everything but mojibake repair is implemented with ftfy's own tables
//! (`tables.rs`): HTML entities (when the text has no `<`), C1 controls read as Windows-1252, Latin
//! ligatures, character width, curly quotes, line breaks, terminal escapes, control characters, NFC; applied
//! to a fixed point per line like ftfy. `fix_encoding` (guessing that UTF-8 was decoded as Latin-1 and
//! undoing it) is a heuristic with no fixed definition and is not reproduced: text that is valid,
//! intentional Unicode (the normal case for prompts) is unaffected by it.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use unicode_normalization::UnicodeNormalization;

use super::tables::{C1_AS_CP1252, HTML5_ENTITIES, LIGATURES, WIDTH_MAP};

fn html5_entity(name: &str) -> Option<&'static str> {
    HTML5_ENTITIES
        .binary_search_by(|(k, _)| k.cmp(&name))
        .ok()
        .map(|i| HTML5_ENTITIES[i].1)
}

fn lookup(table: &'static [(char, &'static str)], c: char) -> Option<&'static str> {
    table
        .binary_search_by(|(k, _)| k.cmp(&c))
        .ok()
        .map(|i| table[i].1)
}

/// Python's `html._invalid_codepoints` that are not `_invalid_charrefs` (those map through Windows-1252).
fn invalid_codepoint(n: u32) -> bool {
    matches!(n, 0x1..=0x8 | 0xb | 0xe..=0x1f | 0x7f | 0xfdd0..=0xfdef) || (n & 0xfffe) == 0xfffe
}

/// Python's `html.unescape` (HTML5 rules: named references with or without `;`, the longest known prefix,
/// numeric references with the Windows-1252 fix-ups and invalid code points).
pub fn html_unescape(s: &str) -> String {
    static CHARREF: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0C <&#;]{1,32};?)").unwrap()
    });
    if !s.contains('&') {
        return s.to_string();
    }
    CHARREF
        .replace_all(s, |caps: &Captures| {
            let r = &caps[1];
            if let Some(num) = r.strip_prefix('#') {
                let (digits, radix) = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => (hex, 16),
                    None => (num, 10),
                };
                let n =
                    u32::from_str_radix(digits.trim_end_matches(';'), radix).unwrap_or(u32::MAX);
                return match n {
                    0x00 => "\u{fffd}".to_string(),
                    0x0d => "\r".to_string(),
                    0x80..=0x9f => C1_AS_CP1252[(n - 0x80) as usize].to_string(),
                    0xd800..=0xdfff => "\u{fffd}".to_string(),
                    n if n > 0x10ffff => "\u{fffd}".to_string(),
                    n if invalid_codepoint(n) => String::new(),
                    n => char::from_u32(n)
                        .map(String::from)
                        .unwrap_or_else(|| "\u{fffd}".into()),
                };
            }
            if let Some(v) = html5_entity(r) {
                return v.to_string();
            }
            let chars: Vec<(usize, char)> = r.char_indices().collect();
            for x in (2..chars.len()).rev() {
                let cut = chars[x].0;
                if let Some(v) = html5_entity(&r[..cut]) {
                    return format!("{v}{}", &r[cut..]);
                }
            }
            format!("&{r}")
        })
        .into_owned()
}

/// ftfy's `unescape_html`: only `&name;` / `&#num;` forms, plus all-caps versions of lower-case names.
fn ftfy_unescape_html(s: &str) -> String {
    static ENTITY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"&#?[0-9A-Za-z]{1,24};").unwrap());
    ENTITY
        .replace_all(s, |caps: &Captures| {
            let text = &caps[0];
            let name = &text[1..];
            if let Some(v) = html5_entity(name) {
                return v.to_string();
            }
            if text.starts_with("&#") {
                let unescaped = html_unescape(text);
                return if unescaped.contains(';') {
                    text.to_string()
                } else {
                    unescaped
                };
            }
            // `&NTILDE;` -> "Ñ": an upper-cased all-lower-case name that html.unescape leaves alone.
            let lower = name.to_lowercase();
            if lower.to_uppercase() == name && html_unescape(text) == text {
                if let Some(v) = html5_entity(&lower) {
                    return v.to_uppercase();
                }
            }
            text.to_string()
        })
        .into_owned()
}

fn is_control_to_remove(c: char) -> bool {
    matches!(c as u32, 0x00..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0x206a..=0x206f | 0xfeff | 0xfff9..=0xfffc)
}

/// One pass of ftfy's fixers in ftfy's order (without `fix_encoding`).
fn ftfy_pass(text: &str, unescape: bool) -> String {
    static ANSI: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").unwrap());
    let mut t = if unescape {
        ftfy_unescape_html(text)
    } else {
        text.to_string()
    };
    // fix_c1_controls
    t = t
        .chars()
        .map(|c| match c as u32 {
            0x80..=0x9f => C1_AS_CP1252[(c as u32 - 0x80) as usize],
            _ => c,
        })
        .collect();
    // fix_latin_ligatures, fix_character_width
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match lookup(LIGATURES, c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    let mut t = String::with_capacity(out.len());
    for c in out.chars() {
        match lookup(WIDTH_MAP, c) {
            Some(s) => t.push_str(s),
            None => t.push(c),
        }
    }
    // uncurl_quotes
    let t: String = t
        .chars()
        .map(|c| match c {
            '\u{201c}'..='\u{201f}' => '"',
            '\u{02bc}' | '\u{2018}'..='\u{201b}' => '\'',
            _ => c,
        })
        .collect();
    // fix_line_breaks
    let t = t
        .replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{0085}'], "\n");
    // remove_terminal_escapes, remove_control_chars, NFC
    let t = ANSI.replace_all(&t, "");
    let t: String = t.chars().filter(|c| !is_control_to_remove(*c)).collect();
    t.nfc().collect()
}

/// `ftfy.fix_text` with the default configuration, minus mojibake repair (see the module docs).
pub fn fix_text(text: &str) -> String {
    // ftfy fixes each line (keeping its line break) separately, each to a fixed point.
    let mut out = String::with_capacity(text.len());
    for segment in text.split_inclusive('\n') {
        let unescape = !segment.contains('<');
        let mut cur = segment.to_string();
        loop {
            let next = ftfy_pass(&cur, unescape);
            if next == cur {
                break;
            }
            cur = next;
        }
        out.push_str(&cur);
    }
    out
}

/// Python's `str.strip()` whitespace (`str.isspace`).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || matches!(c as u32, 0x1c..=0x1f)
}

/// Upstream `_clean_lower`: `whitespace_clean(basic_clean(text)).lower()`.
pub fn clean_lower(text: &str) -> String {
    static WS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").unwrap());
    let basic = html_unescape(&html_unescape(&fix_text(text)));
    let basic = basic.trim_matches(is_py_space);
    let collapsed = WS.replace_all(basic, " ");
    collapsed.trim_matches(is_py_space).to_lowercase()
}
