//! Byte ranges of values inside a JSON text, for diagnostics that point into a user's annotation file.
//!
//! `locate` scans the text once, skipping what is not on the path, without building a document tree, so it works
//! on files of hundreds of megabytes.

use std::ops::Range;

/// One step of a JSON path: an object key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The byte range of the value at `path` in `text` (the whole text's value for an empty path), or `None` when the
/// path does not exist or the text is not valid JSON up to that value. When an object repeats a key, the first
/// occurrence is taken.
pub fn locate(text: &str, path: &[PathSeg]) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    for seg in path {
        pos = match *seg {
            PathSeg::Key(key) => find_member(bytes, pos, key)?,
            PathSeg::Index(index) => find_element(bytes, pos, index)?,
        };
    }
    let end = skip_value(bytes, pos)?;
    Some(pos..end)
}

/// Renders a path as `annotations[3].bbox`, the form error messages use.
pub fn path_to_string(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

/// Start of the value of member `key` of the object starting at `pos`.
fn find_member(b: &[u8], pos: usize, key: &str) -> Option<usize> {
    if b.get(pos) != Some(&b'{') {
        return None;
    }
    let mut p = skip_ws(b, pos + 1);
    if b.get(p) == Some(&b'}') {
        return None;
    }
    loop {
        let key_end = skip_string(b, p)?;
        let matches = decode_string(&b[p + 1..key_end - 1]).as_deref() == Some(key);
        p = skip_ws(b, key_end);
        if b.get(p) != Some(&b':') {
            return None;
        }
        p = skip_ws(b, p + 1);
        if matches {
            return Some(p);
        }
        p = skip_ws(b, skip_value(b, p)?);
        match b.get(p) {
            Some(b',') => p = skip_ws(b, p + 1),
            _ => return None,
        }
    }
}

/// Start of element `index` of the array starting at `pos`.
fn find_element(b: &[u8], pos: usize, index: usize) -> Option<usize> {
    if b.get(pos) != Some(&b'[') {
        return None;
    }
    let mut p = skip_ws(b, pos + 1);
    if b.get(p) == Some(&b']') {
        return None;
    }
    let mut i = 0usize;
    loop {
        if i == index {
            return Some(p);
        }
        p = skip_ws(b, skip_value(b, p)?);
        match b.get(p) {
            Some(b',') => p = skip_ws(b, p + 1),
            _ => return None,
        }
        i += 1;
    }
}

/// End (exclusive) of the value starting at `pos`.
fn skip_value(b: &[u8], pos: usize) -> Option<usize> {
    match *b.get(pos)? {
        b'"' => skip_string(b, pos),
        b'{' | b'[' => skip_container(b, pos),
        b'-' | b'0'..=b'9' => {
            let mut p = pos + 1;
            while p < b.len() && matches!(b[p], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                p += 1;
            }
            Some(p)
        }
        b't' if b[pos..].starts_with(b"true") => Some(pos + 4),
        b'f' if b[pos..].starts_with(b"false") => Some(pos + 5),
        b'n' if b[pos..].starts_with(b"null") => Some(pos + 4),
        _ => None,
    }
}

/// End (exclusive) of the string whose opening quote is at `pos`.
fn skip_string(b: &[u8], pos: usize) -> Option<usize> {
    if b.get(pos) != Some(&b'"') {
        return None;
    }
    let mut p = pos + 1;
    while p < b.len() {
        match b[p] {
            b'\\' => p += 2,
            b'"' => return Some(p + 1),
            _ => p += 1,
        }
    }
    None
}

/// End (exclusive) of the object or array starting at `pos`; brackets inside strings do not count.
fn skip_container(b: &[u8], pos: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut p = pos;
    while p < b.len() {
        match b[p] {
            b'"' => {
                p = skip_string(b, p)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(p + 1);
                }
            }
            _ => {}
        }
        p += 1;
    }
    None
}

/// The text of a JSON string body (without quotes), escapes resolved.
fn decode_string(raw: &[u8]) -> Option<String> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    let quoted = [b"\"".as_slice(), raw, b"\""].concat();
    serde_json::from_slice::<String>(&quoted).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_values_and_reports_missing_paths() {
        let text = r#"{"images": [{"id": 1}], "annotations": [ {"id": 7, "bbox": [1, 2, 3, 4]}, {"a\"b": "x]"} ]}"#;
        let r = locate(
            text,
            &[
                PathSeg::Key("annotations"),
                PathSeg::Index(0),
                PathSeg::Key("bbox"),
            ],
        )
        .unwrap();
        assert_eq!(&text[r], "[1, 2, 3, 4]");
        let r = locate(
            text,
            &[
                PathSeg::Key("annotations"),
                PathSeg::Index(1),
                PathSeg::Key("a\"b"),
            ],
        )
        .unwrap();
        assert_eq!(&text[r], "\"x]\"");
        let r = locate(text, &[PathSeg::Key("annotations"), PathSeg::Index(1)]).unwrap();
        assert_eq!(&text[r], r#"{"a\"b": "x]"}"#);
        assert_eq!(
            locate(text, &[PathSeg::Key("annotations"), PathSeg::Index(2)]),
            None
        );
        assert_eq!(locate(text, &[PathSeg::Key("missing")]), None);
        assert_eq!(
            locate(text, &[PathSeg::Key("images"), PathSeg::Key("id")]),
            None
        );
        assert_eq!(locate(text, &[]), Some(0..text.len()));
        assert_eq!(
            path_to_string(&[
                PathSeg::Key("annotations"),
                PathSeg::Index(3),
                PathSeg::Key("bbox")
            ]),
            "annotations[3].bbox"
        );
    }

    #[test]
    fn truncated_text_gives_none() {
        assert_eq!(locate(r#"{"a": [1, 2"#, &[PathSeg::Key("a")]), None);
        assert_eq!(locate(r#"{"a": "#, &[PathSeg::Key("a")]), None);
    }
}
