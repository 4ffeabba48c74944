//! The types of spec values: primitives, quantities with units, collections, components by kind and domain.

use sam3c_stdlib::catalog::{Domain, Kind, TypeDesc, UnitKind};
use std::fmt;

/// A numeric range such as `0..=1` or `1..`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumRange {
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub inclusive: bool,
}

impl NumRange {
    pub fn contains(&self, x: f64) -> bool {
        self.lo.is_none_or(|lo| x >= lo)
            && self
                .hi
                .is_none_or(|hi| if self.inclusive { x <= hi } else { x < hi })
    }

    /// Parse the catalog's range strings (`0..=1`, `1..`, `..10`).
    pub fn parse(s: &str) -> Option<NumRange> {
        let (lo, hi, inclusive) = if let Some((a, b)) = s.split_once("..=") {
            (a, b, true)
        } else {
            let (a, b) = s.split_once("..")?;
            (a, b, false)
        };
        let num = |t: &str| -> Option<Option<f64>> {
            let t = t
                .trim()
                .trim_end_matches(|c: char| c.is_alphabetic() || c == '%');
            if t.is_empty() {
                Some(None)
            } else {
                t.parse().ok().map(Some)
            }
        };
        Some(NumRange {
            lo: num(lo)?,
            hi: num(hi)?,
            inclusive,
        })
    }
}

impl fmt::Display for NumRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |x: f64| {
            if x.fract() == 0.0 {
                format!("{}", x as i64)
            } else {
                format!("{x}")
            }
        };
        write!(
            f,
            "{}{}{}",
            self.lo.map(show).unwrap_or_default(),
            if self.inclusive { "..=" } else { ".." },
            self.hi.map(show).unwrap_or_default()
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// Whatever the expression is (a `let`).
    Any,
    Bool,
    Int,
    Float,
    Str,
    Path,
    Quantity(UnitKind),
    List(Box<Ty>),
    Optional(Box<Ty>),
    /// A record with free keys.
    Map(Box<Ty>),
    /// A record with fixed fields.
    Record(Vec<(String, Ty)>),
    /// One of several types; the names are the variant tags the runtime's serde expects.
    Union(String, Vec<(String, Ty)>),
    /// One of a set of words.
    Enum(String, Vec<String>),
    /// One component by name.
    Component(&'static str),
    /// Any component of a kind, for a domain (`Any`: either).
    Kind(Kind, Domain),
    /// A stage of the spec.
    StageRef,
    /// A number type with a range (`Float in 0..=1`).
    Refined(Box<Ty>, NumRange),
}

impl Ty {
    pub fn from_desc(d: &TypeDesc) -> Ty {
        match d {
            TypeDesc::Bool => Ty::Bool,
            TypeDesc::Int => Ty::Int,
            TypeDesc::Float => Ty::Float,
            TypeDesc::Str => Ty::Str,
            TypeDesc::Path => Ty::Path,
            TypeDesc::Quantity { unit } => Ty::Quantity(*unit),
            TypeDesc::List { of } => Ty::List(Box::new(Ty::from_desc(of))),
            TypeDesc::Optional { of } => Ty::Optional(Box::new(Ty::from_desc(of))),
            TypeDesc::Map { of } => Ty::Map(Box::new(Ty::from_desc(of))),
            TypeDesc::Record { fields } => Ty::Record(
                fields
                    .iter()
                    .map(|(n, t)| (n.to_string(), Ty::from_desc(t)))
                    .collect(),
            ),
            TypeDesc::Union { name, alternatives } => Ty::Union(
                name.to_string(),
                alternatives
                    .iter()
                    .map(|(n, t)| (n.to_string(), Ty::from_desc(t)))
                    .collect(),
            ),
            TypeDesc::Enum { name, variants } => Ty::Enum(
                name.to_string(),
                variants.iter().map(|v| v.to_string()).collect(),
            ),
            TypeDesc::Component { name } => Ty::Component(name),
            TypeDesc::KindOf { kind } => Ty::Kind(*kind, Domain::Any),
            TypeDesc::StageRef => Ty::StageRef,
        }
    }

    /// The type without `?` and refinements.
    pub fn base(&self) -> &Ty {
        match self {
            Ty::Optional(t) | Ty::Refined(t, _) => t.base(),
            t => t,
        }
    }

    /// If every alternative of a union is a component of one kind, that kind (for messages: "a transform").
    pub fn component_kind(&self) -> Option<Kind> {
        match self {
            Ty::Kind(k, _) => Some(*k),
            Ty::Component(name) => sam3c_stdlib::components::lookup(name).map(|c| c.kind),
            Ty::Union(_, alts) => {
                let kinds: Vec<Option<Kind>> =
                    alts.iter().map(|(_, t)| t.component_kind()).collect();
                let first = (*kinds.first()?)?;
                kinds.iter().all(|k| *k == Some(first)).then_some(first)
            }
            Ty::Optional(t) => t.component_kind(),
            _ => None,
        }
    }

    /// Whether a component with this name fits the type (used to pick a union alternative).
    pub fn accepts_component(&self, name: &str) -> bool {
        match self {
            Ty::Component(n) => *n == name,
            Ty::Kind(k, _) => sam3c_stdlib::components::lookup(name).is_some_and(|c| c.kind == *k),
            Ty::Union(_, alts) => alts.iter().any(|(_, t)| t.accepts_component(name)),
            Ty::Optional(t) | Ty::Refined(t, _) => t.accepts_component(name),
            _ => false,
        }
    }
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl Ty {
    /// "a dataset", "a Pixels value", "a list of transforms": how messages name what was expected.
    pub fn describe(&self) -> String {
        if let Some(k) = self.component_kind() {
            if !matches!(self, Ty::Component(_)) {
                let noun = k.noun();
                return match self {
                    Ty::Kind(_, d) if *d != Domain::Any => {
                        format!(
                            "{} {} {}",
                            article(&d.name().to_lowercase()),
                            d.name().to_lowercase(),
                            noun
                        )
                    }
                    _ => format!("{} {}", article(noun), noun),
                };
            }
        }
        match self {
            Ty::List(of) => match of.component_kind() {
                Some(k) => format!("a list of {}s", k.noun()),
                None => format!("a list of {}", of),
            },
            Ty::Optional(of) => of.describe(),
            Ty::Component(n) => format!("`{n}(...)`"),
            Ty::Enum(_, words) => format!(
                "one of {}",
                words
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ty::StageRef => "a stage".into(),
            Ty::Quantity(u) => format!(
                "{} {} value (e.g. `{}`)",
                article(&u.name().to_lowercase()),
                u.name(),
                example(*u)
            ),
            Ty::Refined(base, r) => format!("{} in {r}", base.describe()),
            t => format!("{} {t}", article(&t.to_string().to_lowercase())),
        }
    }
}

/// An example literal of a unit, for help lines.
pub fn example(u: UnitKind) -> &'static str {
    match u {
        UnitKind::Pixels => "1008px",
        UnitKind::Steps => "20 steps",
        UnitKind::Epochs => "10 epochs",
        UnitKind::Duration => "72h",
        UnitKind::Percent => "15%",
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Any => write!(f, "any value"),
            Ty::Bool => write!(f, "Bool"),
            Ty::Int => write!(f, "Int"),
            Ty::Float => write!(f, "Float"),
            Ty::Str => write!(f, "Str"),
            Ty::Path => write!(f, "Path"),
            Ty::Quantity(u) => write!(f, "{}", u.name()),
            Ty::List(of) => write!(f, "List<{of}>"),
            Ty::Optional(of) => write!(f, "{of}?"),
            Ty::Map(of) => write!(f, "Map<{of}>"),
            Ty::Record(fields) => {
                let fs: Vec<String> = fields.iter().map(|(n, t)| format!("{n}: {t}")).collect();
                write!(f, "{{ {} }}", fs.join(", "))
            }
            Ty::Union(_, alts) => {
                if let Some(k) = self.component_kind() {
                    return write!(f, "{}", capitalize(k.noun()));
                }
                let a: Vec<String> = alts.iter().map(|(_, t)| t.to_string()).collect();
                write!(f, "{}", a.join(" | "))
            }
            Ty::Enum(name, _) => write!(f, "{name}"),
            Ty::Component(n) => write!(f, "{n}"),
            Ty::Kind(k, Domain::Any) => write!(f, "{}", capitalize(k.noun())),
            Ty::Kind(k, d) => write!(f, "{}<{}>", capitalize(k.noun()), d.name()),
            Ty::StageRef => write!(f, "Stage"),
            Ty::Refined(base, r) => write!(f, "{base} in {r}"),
        }
    }
}

pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_contain() {
        let r = NumRange::parse("0..=1").unwrap();
        assert!(r.contains(0.0) && r.contains(1.0) && !r.contains(1.01));
        let r = NumRange::parse("1..").unwrap();
        assert!(r.contains(1.0) && r.contains(1e9) && !r.contains(0.5));
        assert_eq!(NumRange::parse("0..0.5").unwrap().to_string(), "0..0.5");
    }

    #[test]
    fn types_describe_themselves_in_user_words() {
        assert_eq!(
            Ty::Kind(Kind::Dataset, Domain::Video).describe(),
            "a video dataset"
        );
        assert_eq!(
            Ty::Quantity(UnitKind::Pixels).describe(),
            "a Pixels value (e.g. `1008px`)"
        );
        assert_eq!(
            Ty::Kind(Kind::Meter, Domain::Image).to_string(),
            "Meter<Image>"
        );
    }
}
