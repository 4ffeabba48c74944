//! OmegaConf's interpolation, as sam3's trainer resolves it: `${a.b.0}` (typed when it is the whole string,
//! text inside a longer string), keys built from nested interpolations (`${list.${string:${i}}}`), and the
//! resolvers of `register_omegaconf_resolvers` that configs use (`times`, `add`, `subtract`, `divide`, `int`,
//! `string`). The job-array index can be fixed, so that each task of an array resolves as train.py resolves it.

use super::yaml::{Node, NodeValue};
use crate::db::FileId;
use sam3c_lang::ast::Span;

/// Where a config stops resolving, and why.
#[derive(Debug, Clone)]
pub struct ResolveError {
    pub message: String,
    pub file: FileId,
    pub span: Span,
}

pub const TASK_INDEX: &str = "submitit.job_array.task_index";

/// Resolve the subtree at `key` of `root` (every interpolation inside it, transitively), with the job array's
/// `task_index` set to `task` when given.
pub fn resolve_key(
    root: &Node,
    key: &str,
    task: Option<i64>,
) -> Result<Option<Node>, ResolveError> {
    let mut r = Resolver {
        root,
        task,
        stack: Vec::new(),
    };
    match lookup(root, key) {
        Some(n) => r.node(n, key).map(Some),
        None => Ok(None),
    }
}

struct Resolver<'a> {
    root: &'a Node,
    task: Option<i64>,
    stack: Vec<String>,
}

fn lookup<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for part in path.split('.') {
        node = match &node.value {
            NodeValue::Map(_) => node.get(part)?,
            NodeValue::List(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

impl Resolver<'_> {
    fn node(&mut self, n: &Node, path: &str) -> Result<Node, ResolveError> {
        let value = match &n.value {
            NodeValue::Str(s) if s.contains("${") => {
                return self.string(s, n).map(|mut v| {
                    if matches!(
                        v.value,
                        NodeValue::Str(_)
                            | NodeValue::Int(_)
                            | NodeValue::Float(_)
                            | NodeValue::Bool(_)
                            | NodeValue::Null
                    ) {
                        // A scalar is reported where the interpolation is written.
                        v.file = n.file;
                        v.span = n.span;
                    }
                    v
                });
            }
            NodeValue::List(items) => NodeValue::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.node(x, &format!("{path}.{i}")))
                    .collect::<Result<_, _>>()?,
            ),
            NodeValue::Map(entries) => NodeValue::Map(
                entries
                    .iter()
                    .map(|(k, s, v)| Ok((k.clone(), *s, self.node(v, &format!("{path}.{k}"))?)))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        };
        Ok(Node {
            value,
            file: n.file,
            span: n.span,
        })
    }

    fn error(&self, at: &Node, message: String) -> ResolveError {
        ResolveError {
            message,
            file: at.file,
            span: at.span,
        }
    }

    /// A string with interpolations: the referenced value itself when the string is one interpolation.
    fn string(&mut self, s: &str, at: &Node) -> Result<Node, ResolveError> {
        let parts = split_interpolations(s).map_err(|m| self.error(at, m))?;
        if let [Part::Interp(inner)] = parts.as_slice() {
            return self.interpolation(inner, at);
        }
        let mut out = String::new();
        for p in parts {
            match p {
                Part::Text(t) => out.push_str(&t),
                Part::Interp(inner) => {
                    let v = self.interpolation(&inner, at)?;
                    out.push_str(&python_str(&v).ok_or_else(|| {
                        self.error(
                            at,
                            format!(
                                "`${{{inner}}}` is not a scalar and cannot be part of a string"
                            ),
                        )
                    })?);
                }
            }
        }
        Ok(Node {
            value: NodeValue::Str(out),
            file: at.file,
            span: at.span,
        })
    }

    fn interpolation(&mut self, inner: &str, at: &Node) -> Result<Node, ResolveError> {
        let inner = inner.trim();
        if let Some((name, args)) = resolver_call(inner) {
            let args = split_args(args)
                .into_iter()
                .map(|a| self.argument(&a, at))
                .collect::<Result<Vec<_>, _>>()?;
            return self.apply(name, &args, at);
        }
        // A key, possibly built from nested interpolations.
        let key = match self.string(inner, at)?.value {
            NodeValue::Str(k) => k,
            NodeValue::Int(i) => i.to_string(),
            _ => return Err(self.error(at, format!("`${{{inner}}}` does not name a key"))),
        };
        if key == TASK_INDEX {
            if let Some(t) = self.task {
                return Ok(Node {
                    value: NodeValue::Int(t),
                    file: at.file,
                    span: at.span,
                });
            }
        }
        if self.stack.contains(&key) {
            return Err(self.error(at, format!("`${{{key}}}` refers to itself")));
        }
        self.stack.push(key.clone());
        let r = self.walk(&key, at);
        self.stack.pop();
        r
    }

    /// The resolved node at a dotted key; interpolations met on the way are resolved first (a key may go
    /// through `${...}` that picks a record, as `${tuple.train.img_folder}` does).
    fn walk(&mut self, key: &str, at: &Node) -> Result<Node, ResolveError> {
        let missing =
            |r: &Self| r.error(at, format!("`${{{key}}}`: the config has no key `{key}`"));
        let mut node = self.root.clone();
        let mut walked = String::new();
        for part in key.split('.') {
            if matches!(&node.value, NodeValue::Str(s) if s.contains("${")) {
                node = self.node(&node, &walked)?;
            }
            node = match &node.value {
                NodeValue::Map(_) => node.get(part).cloned().ok_or_else(|| missing(self))?,
                NodeValue::List(items) => part
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i).cloned())
                    .ok_or_else(|| missing(self))?,
                _ => return Err(missing(self)),
            };
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(part);
        }
        self.node(&node, key)
    }

    fn argument(&mut self, a: &str, at: &Node) -> Result<Node, ResolveError> {
        let a = a.trim();
        let value = if a.contains("${") {
            return self.string(a, at);
        } else if let Ok(i) = a.parse::<i64>() {
            NodeValue::Int(i)
        } else if let Ok(f) = a.parse::<f64>() {
            NodeValue::Float(f)
        } else if a.eq_ignore_ascii_case("true") || a.eq_ignore_ascii_case("false") {
            NodeValue::Bool(a.eq_ignore_ascii_case("true"))
        } else if a == "null" {
            NodeValue::Null
        } else {
            NodeValue::Str(a.trim_matches(|c| c == '\'' || c == '"').to_string())
        };
        Ok(Node {
            value,
            file: at.file,
            span: at.span,
        })
    }

    fn apply(&self, name: &str, args: &[Node], at: &Node) -> Result<Node, ResolveError> {
        let numbers = || -> Result<Vec<Num>, ResolveError> {
            args.iter()
                .map(|a| match &a.value {
                    NodeValue::Int(i) => Ok(Num::Int(*i)),
                    NodeValue::Float(f) => Ok(Num::Float(*f)),
                    NodeValue::Str(s) => s
                        .parse::<i64>()
                        .map(Num::Int)
                        .or_else(|_| s.parse::<f64>().map(Num::Float))
                        .map_err(|_| self.error(at, format!("`{name}`: `{s}` is not a number"))),
                    _ => Err(self.error(at, format!("`{name}` takes numbers"))),
                })
                .collect()
        };
        let value = match name {
            "times" => fold(&numbers()?, Num::Int(1), |a, b| a * b, |a, b| a.checked_mul(b)),
            "add" => fold(&numbers()?, Num::Int(0), |a, b| a + b, |a, b| a.checked_add(b)),
            "subtract" => match numbers()?.as_slice() {
                [a, b] => fold(&[*a, b.neg()], Num::Int(0), |a, b| a + b, |a, b| a.checked_add(b)),
                _ => return Err(self.error(at, "`subtract` takes two numbers".into())),
            },
            "divide" => match numbers()?.as_slice() {
                [a, b] => NodeValue::Float(a.f() / b.f()),
                _ => return Err(self.error(at, "`divide` takes two numbers".into())),
            },
            "int" => match numbers()?.as_slice() {
                [a] => NodeValue::Int(a.f().trunc() as i64),
                _ => return Err(self.error(at, "`int` takes one number".into())),
            },
            "string" => match args {
                [a] => NodeValue::Str(python_str(a).unwrap_or_default()),
                _ => return Err(self.error(at, "`string` takes one value".into())),
            },
            other => {
                return Err(self.error(
                    at,
                    format!("the resolver `{other}` is not supported by `sam3c import` (it reads `times`, `add`, `subtract`, `divide`, `int` and `string`)"),
                ))
            }
        };
        Ok(Node {
            value,
            file: at.file,
            span: at.span,
        })
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    fn neg(self) -> Num {
        match self {
            Num::Int(i) => Num::Int(-i),
            Num::Float(f) => Num::Float(-f),
        }
    }
}

/// numpy's `prod`/`sum(...).item()`: integers stay integers, a float anywhere makes a float.
fn fold(
    xs: &[Num],
    init: Num,
    float: fn(f64, f64) -> f64,
    int: fn(i64, i64) -> Option<i64>,
) -> NodeValue {
    let mut acc = init;
    for x in xs {
        acc = match (acc, *x) {
            (Num::Int(a), Num::Int(b)) => int(a, b)
                .map(Num::Int)
                .unwrap_or(Num::Float(float(a as f64, b as f64))),
            (a, b) => Num::Float(float(a.f(), b.f())),
        };
    }
    match acc {
        Num::Int(i) => NodeValue::Int(i),
        Num::Float(f) => NodeValue::Float(f),
    }
}

/// How Python's `str()` writes a scalar (what OmegaConf puts into a string).
pub fn python_str(n: &Node) -> Option<String> {
    Some(match &n.value {
        NodeValue::Str(s) => s.clone(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => python_float(*f),
        NodeValue::Bool(b) => if *b { "True" } else { "False" }.into(),
        NodeValue::Null => "None".into(),
        _ => return None,
    })
}

pub fn python_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

enum Part {
    Text(String),
    Interp(String),
}

/// Split a string into text and top-level `${...}` parts (nested braces belong to their interpolation).
fn split_interpolations(s: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '$' && bytes.get(i + 1) == Some(&'{') {
            let mut depth = 1;
            let mut j = i + 2;
            while j < bytes.len() && depth > 0 {
                if bytes[j] == '$' && bytes.get(j + 1) == Some(&'{') {
                    depth += 1;
                    j += 1;
                } else if bytes[j] == '}' {
                    depth -= 1;
                }
                j += 1;
            }
            if depth > 0 {
                return Err(format!("unclosed interpolation in `{s}`"));
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Interp(bytes[i + 2..j - 1].iter().collect()));
            i = j;
        } else {
            text.push(bytes[i]);
            i += 1;
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// `name:args` when the interpolation calls a resolver (the name is an identifier before the first `:` outside
/// nested interpolations).
fn resolver_call(inner: &str) -> Option<(&str, &str)> {
    let colon = inner.find(':')?;
    let name = &inner[..colon];
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Some((name, &inner[colon + 1..]))
    } else {
        None
    }
}

/// Resolver arguments, split at commas outside nested interpolations and brackets.
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in args.chars() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::yaml::parse;

    fn resolved(text: &str, key: &str, task: Option<i64>) -> Node {
        let root = parse(text, FileId(0)).unwrap();
        resolve_key(&root, key, task).unwrap().unwrap()
    }

    #[test]
    fn interpolations_resolve_as_omegaconf_does() {
        let text = "scratch:\n  lr_scale: 0.1\n  lr: ${times:8e-4,${scratch.lr_scale}}\n  dim: ${add:${scratch.k},2}\n  k: 256\n  res: 1008\npaths:\n  root: /data\nall: [a, b, c]\nsubmitit:\n  job_array:\n    task_index: 0\nx:\n  name: ${all.${string:${submitit.job_array.task_index}}}\n  dir: ${paths.root}/${x.name}/train/\n  size: ${scratch.res}\n  list: ${all}\n";
        let x = resolved(text, "x", Some(2));
        assert_eq!(x.get("name").unwrap().value, NodeValue::Str("c".into()));
        assert_eq!(
            x.get("dir").unwrap().value,
            NodeValue::Str("/data/c/train/".into())
        );
        assert_eq!(
            x.get("size").unwrap().value,
            NodeValue::Int(1008),
            "a whole interpolation keeps its type"
        );
        assert!(matches!(x.get("list").unwrap().value, NodeValue::List(ref l) if l.len() == 3));
        let s = resolved(text, "scratch", None);
        assert_eq!(s.get("lr").unwrap().value, NodeValue::Float(8e-4 * 0.1));
        assert_eq!(s.get("dim").unwrap().value, NodeValue::Int(258));
        assert_eq!(
            resolved(text, "x", None).get("name").unwrap().value,
            NodeValue::Str("a".into())
        );
    }

    #[test]
    fn missing_keys_and_cycles_are_errors_at_their_place() {
        let text = "a: ${b.c}\nd: ${d}\ne: ${nope:1}\n";
        let root = parse(text, FileId(0)).unwrap();
        let e = resolve_key(&root, "a", None).unwrap_err();
        assert!(e.message.contains("no key `b.c`"), "{}", e.message);
        assert_eq!(&text[e.span.start as usize..e.span.end as usize], "${b.c}");
        assert!(resolve_key(&root, "d", None)
            .unwrap_err()
            .message
            .contains("refers to itself"));
        assert!(resolve_key(&root, "e", None)
            .unwrap_err()
            .message
            .contains("`nope`"));
    }
}
