//! YAML as Hydra and OmegaConf read it: a tree whose maps keep their order, written by the exporter and read
//! (with the place of every node) by the importer.

use crate::db::FileId;
use sam3c_lang::ast::Span;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::Write;

/// A YAML value. `Interp` is a string OmegaConf resolves (`${a.b}`); a `Str` is always taken literally.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Interp(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    pub fn str(s: impl Into<String>) -> Yaml {
        Yaml::Str(s.into())
    }

    /// A map from `(key, value)` pairs, in order.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Yaml)>) -> Yaml {
        Yaml::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// `{_target_: target, ...args}`.
    pub fn call<K: Into<String>>(target: &str, args: impl IntoIterator<Item = (K, Yaml)>) -> Yaml {
        let mut entries = vec![("_target_".to_string(), Yaml::str(target))];
        entries.extend(args.into_iter().map(|(k, v)| (k.into(), v)));
        Yaml::Map(entries)
    }

    /// The value of a key of a map.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Set a key of a map (replacing its value, or appending it).
    pub fn set(&mut self, key: &str, value: Yaml) {
        if let Yaml::Map(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key.to_string(), value)),
            }
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Yaml::List(_) | Yaml::Map(_))
    }
}

/// The YAML text of a document, in block style (lists of scalars in flow style).
pub fn to_string(doc: &Yaml) -> String {
    let mut out = String::new();
    match doc {
        Yaml::Map(entries) if !entries.is_empty() => write_entries(&mut out, entries, 0),
        other => {
            write_value_inline(&mut out, other);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push_str("  ");
    }
}

fn write_entries(out: &mut String, entries: &[(String, Yaml)], depth: usize) {
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 || depth > 0 {
            indent(out, depth);
        }
        out.push_str(&key(k));
        out.push(':');
        write_after_key(out, v, depth);
    }
}

/// The value of a map entry, after `key:`.
fn write_after_key(out: &mut String, v: &Yaml, depth: usize) {
    match v {
        Yaml::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            write_entries(out, entries, depth + 1);
        }
        Yaml::List(items) if !items.is_empty() && !items.iter().all(Yaml::is_scalar) => {
            out.push('\n');
            write_items(out, items, depth + 1);
        }
        other => {
            out.push(' ');
            write_value_inline(out, other);
            out.push('\n');
        }
    }
}

fn write_items(out: &mut String, items: &[Yaml], depth: usize) {
    for item in items {
        indent(out, depth);
        out.push('-');
        match item {
            Yaml::Map(entries) if !entries.is_empty() => {
                out.push(' ');
                // The first entry on the dash's line, the others aligned with it.
                write_entries_after_dash(out, entries, depth + 1);
            }
            Yaml::List(inner) if !inner.is_empty() && !inner.iter().all(Yaml::is_scalar) => {
                out.push('\n');
                write_items(out, inner, depth + 1);
            }
            other => {
                out.push(' ');
                write_value_inline(out, other);
                out.push('\n');
            }
        }
    }
}

fn write_entries_after_dash(out: &mut String, entries: &[(String, Yaml)], depth: usize) {
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            indent(out, depth);
        }
        out.push_str(&key(k));
        out.push(':');
        write_after_key(out, v, depth);
    }
}

/// Scalars, empty collections and lists of scalars (`[0.5, 0.5, 0.5]`).
fn write_value_inline(out: &mut String, v: &Yaml) {
    match v {
        Yaml::Null => out.push_str("null"),
        Yaml::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Yaml::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Yaml::Float(f) => out.push_str(&float(*f)),
        Yaml::Str(s) => out.push_str(&scalar(&s.replace("${", "\\${"))),
        Yaml::Interp(s) => out.push_str(&scalar(s)),
        Yaml::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value_inline(out, item);
            }
            out.push(']');
        }
        Yaml::Map(entries) => {
            // Only empty maps are written inline.
            debug_assert!(entries.is_empty());
            out.push_str("{}");
        }
    }
}

/// A float that YAML 1.1 (PyYAML, OmegaConf) reads back as the same float: always with a decimal point.
pub fn float(x: f64) -> String {
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
];

/// A string scalar: plain when YAML reads it back as the same string, otherwise double-quoted (JSON escapes
/// are valid YAML).
fn scalar(s: &str) -> String {
    let plain_char = |c: char| c.is_ascii_alphanumeric() || "_./<>-+@ ".contains(c);
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || "_/.<".contains(c))
        && !s.ends_with(' ')
        && s.chars().all(plain_char)
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn key(k: &str) -> String {
    scalar(k)
}

// ---- reading ---------------------------------------------------------------------------------------------

/// A YAML node read from a file, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub file: FileId,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    /// Entries in order: the key, where the key is written, the value.
    Map(Vec<(String, Span, Node)>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The span of a key of a map.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, s, _)| *s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The node without places, as written by the exporter (interpolations stay strings).
    pub fn to_yaml(&self) -> Yaml {
        match &self.value {
            NodeValue::Null => Yaml::Null,
            NodeValue::Bool(b) => Yaml::Bool(*b),
            NodeValue::Int(i) => Yaml::Int(*i),
            NodeValue::Float(f) => Yaml::Float(*f),
            NodeValue::Str(s) => Yaml::Str(s.clone()),
            NodeValue::List(items) => Yaml::List(items.iter().map(Node::to_yaml).collect()),
            NodeValue::Map(entries) => Yaml::Map(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.to_yaml()))
                    .collect(),
            ),
        }
    }
}

/// Why a YAML text cannot be read, and where.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}

/// Parse a YAML document (YAML 1.1 scalars, as PyYAML reads them: `True`, `yes`, `1e-8`).
pub fn parse(text: &str, file: FileId) -> Result<Node, YamlError> {
    if text.trim().is_empty() {
        return Ok(Node {
            value: NodeValue::Map(Vec::new()),
            file,
            span: Span::new(0, 0),
        });
    }
    let raw: serde_saphyr::Spanned<Raw> = serde_saphyr::from_str(text).map_err(|e| {
        let span = e
            .location()
            .map(|l| span_of(&l, text))
            .unwrap_or(Span::new(0, 0));
        YamlError {
            message: first_line(&e.to_string()),
            span,
        }
    })?;
    Ok(convert(raw, file, text))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

fn span_of(loc: &serde_saphyr::Location, text: &str) -> Span {
    let span = loc.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(start), len) => {
            let start = (start as usize).min(text.len());
            let len = len.unwrap_or(0) as usize;
            let mut end = (start + len.max(1)).min(text.len());
            while end < text.len() && !text.is_char_boundary(end) {
                end += 1;
            }
            Span::new(start, end)
        }
        _ => Span::new(0, 0),
    }
}

fn convert(raw: serde_saphyr::Spanned<Raw>, file: FileId, text: &str) -> Node {
    let span = span_of(&raw.referenced, text);
    let value = match raw.value {
        Raw::Null => NodeValue::Null,
        Raw::Bool(b) => NodeValue::Bool(b),
        Raw::Int(i) => NodeValue::Int(i),
        Raw::Float(f) => NodeValue::Float(f),
        Raw::Str(s) => NodeValue::Str(s),
        Raw::List(items) => {
            NodeValue::List(items.into_iter().map(|i| convert(i, file, text)).collect())
        }
        Raw::Map(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let kspan = span_of(&k.referenced, text);
                    let name = match k.value {
                        Raw::Str(s) => s,
                        Raw::Int(i) => i.to_string(),
                        Raw::Float(f) => float(f),
                        Raw::Bool(b) => b.to_string(),
                        Raw::Null => "null".into(),
                        Raw::List(_) | Raw::Map(_) => "?".into(),
                    };
                    // Keys spans point at the key's first character; widen to the whole key.
                    let kspan = Span::new(
                        kspan.start as usize,
                        (kspan.start as usize + name.len()).min(text.len()),
                    );
                    (name, kspan, convert(v, file, text))
                })
                .collect(),
        ),
    };
    Node { value, file, span }
}

/// The untyped document as serde-saphyr delivers it.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<serde_saphyr::Spanned<Raw>>),
    Map(Vec<(serde_saphyr::Spanned<Raw>, serde_saphyr::Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                i64::try_from(v)
                    .map(Raw::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<serde_saphyr::Spanned<Raw>>()? {
                    items.push(item);
                }
                Ok(Raw::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<serde_saphyr::Spanned<Raw>>()? {
                    let v = map.next_value::<serde_saphyr::Spanned<Raw>>()?;
                    entries.push((k, v));
                }
                Ok(Raw::Map(entries))
            }
        }
        d.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_documents_read_back_as_the_same_tree() {
        let doc = Yaml::map([
            ("a", Yaml::Float(8.000000000000001e-5)),
            ("b", Yaml::Float(20.0)),
            ("c", Yaml::str("-grccs")),
            ("d", Yaml::str("True")),
            ("e", Yaml::List(vec![Yaml::Float(0.5), Yaml::Int(2)])),
            (
                "f",
                Yaml::List(vec![
                    Yaml::call("x.Y", [("k", Yaml::Null), ("l", Yaml::List(vec![]))]),
                    Yaml::map([("m", Yaml::map([("n", Yaml::Bool(true))]))]),
                ]),
            ),
            ("g", Yaml::str("a: b # c")),
            ("h", Yaml::str("Aquarium Combined.v2-raw-1024.coco/test/")),
            ("i", Yaml::map(Vec::<(String, Yaml)>::new())),
            ("j", Yaml::str("13-lkc01")),
            ("k", Yaml::str("yes")),
            ("l", Yaml::str("[{\"id\": 1, \"name\": \"boat's\"}]")),
        ]);
        let text = to_string(&doc);
        let back = parse(&text, FileId(0)).unwrap().to_yaml();
        assert_eq!(back, doc, "{text}");
    }

    #[test]
    fn literal_dollar_braces_are_escaped_and_interpolations_are_not() {
        let text = to_string(&Yaml::map([
            ("lit", Yaml::str("a${b}")),
            ("interp", Yaml::Interp("${sweep.current.x}/y".into())),
        ]));
        assert_eq!(
            text,
            "lit: \"a\\\\${b}\"\ninterp: \"${sweep.current.x}/y\"\n"
        );
    }

    #[test]
    fn nodes_know_where_they_were_written() {
        let text = "a:\n  b: [1, 2]\n  c: 'x'\n";
        let n = parse(text, FileId(0)).unwrap();
        let c = n.get("a").unwrap().get("c").unwrap();
        assert_eq!(&text[c.span.range()], "'x'");
        assert_eq!(
            &text[n.get("a").unwrap().key_span("b").unwrap().range()],
            "b"
        );
    }
}
