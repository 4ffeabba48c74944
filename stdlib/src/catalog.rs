//! Signatures of components, as the compiler sees them. They are generated from the component structs by
//! `#[derive(Component)]`, `#[derive(DslUnion)]` and `#[derive(DslEnum)]`; nothing here is written by hand.

use serde::Serialize;

/// What a component is for; also the declaration keyword that declares one (`dataset`, `model`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Dataset,
    Sampler,
    Transform,
    Model,
    Loss,
    LossTerm,
    Matcher,
    Optimizer,
    Schedule,
    Meter,
    Postprocess,
    /// A helper that computes a value (`scales(...)`, `group(...)`, `layer_decay(...)`).
    Value,
    Stage,
    Evaluation,
    Experiment,
    Resources,
    Cluster,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "dataset" => Kind::Dataset,
            "sampler" => Kind::Sampler,
            "transform" => Kind::Transform,
            "model" => Kind::Model,
            "loss" => Kind::Loss,
            "loss_term" => Kind::LossTerm,
            "matcher" => Kind::Matcher,
            "optimizer" => Kind::Optimizer,
            "schedule" => Kind::Schedule,
            "meter" => Kind::Meter,
            "postprocess" => Kind::Postprocess,
            "value" => Kind::Value,
            "stage" => Kind::Stage,
            "evaluation" => Kind::Evaluation,
            "experiment" => Kind::Experiment,
            "resources" => Kind::Resources,
            "cluster" => Kind::Cluster,
            _ => return None,
        })
    }

    /// How a user calls this kind in a message ("a dataset", "a loss term").
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Dataset => "dataset",
            Kind::Sampler => "clip sampler",
            Kind::Transform => "transform",
            Kind::Model => "model",
            Kind::Loss => "loss",
            Kind::LossTerm => "loss term",
            Kind::Matcher => "matcher",
            Kind::Optimizer => "optimizer",
            Kind::Schedule => "schedule",
            Kind::Meter => "meter",
            Kind::Postprocess => "postprocessor",
            Kind::Value => "value",
            Kind::Stage => "stage",
            Kind::Evaluation => "evaluation",
            Kind::Experiment => "experiment",
            Kind::Resources => "resources",
            Kind::Cluster => "cluster",
        }
    }
}

/// Image or video data. A component for `Any` works on both; the checker infers a stage's domain from its
/// dataset and requires every other part to agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Image,
    Video,
    Any,
}

impl Domain {
    pub fn parse(s: &str) -> Option<Domain> {
        match s {
            "image" => Some(Domain::Image),
            "video" => Some(Domain::Video),
            "any" => Some(Domain::Any),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Domain::Image => "Image",
            Domain::Video => "Video",
            Domain::Any => "Any",
        }
    }
}

/// Units of quantities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum UnitKind {
    Pixels,
    Steps,
    Epochs,
    Duration,
    Percent,
}

impl UnitKind {
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Pixels => "Pixels",
            UnitKind::Steps => "Steps",
            UnitKind::Epochs => "Epochs",
            UnitKind::Duration => "Duration",
            UnitKind::Percent => "Percent",
        }
    }

    /// The unit suffixes a user may write, the first one being the canonical spelling, with the factor that
    /// converts to the stored value (seconds for durations, a fraction for percent).
    pub fn suffixes(self) -> &'static [(&'static str, f64)] {
        match self {
            UnitKind::Pixels => &[("px", 1.0)],
            UnitKind::Steps => &[("steps", 1.0), ("step", 1.0)],
            UnitKind::Epochs => &[("epochs", 1.0), ("epoch", 1.0)],
            UnitKind::Duration => &[
                ("h", 3600.0),
                ("min", 60.0),
                ("s", 1.0),
                ("ms", 0.001),
                ("d", 86400.0),
            ],
            UnitKind::Percent => &[("%", 0.01)],
        }
    }

    pub const ALL: [UnitKind; 5] = [
        UnitKind::Pixels,
        UnitKind::Steps,
        UnitKind::Epochs,
        UnitKind::Duration,
        UnitKind::Percent,
    ];

    /// The unit a suffix belongs to, and its factor.
    pub fn from_suffix(suffix: &str) -> Option<(UnitKind, f64)> {
        UnitKind::ALL.iter().find_map(|u| {
            u.suffixes()
                .iter()
                .find(|(s, _)| *s == suffix)
                .map(|(_, f)| (*u, *f))
        })
    }

    /// Whether values of this unit are whole numbers.
    pub fn integral(self) -> bool {
        matches!(self, UnitKind::Pixels | UnitKind::Steps | UnitKind::Epochs)
    }
}

/// The type of a parameter, derived from its Rust type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TypeDesc {
    Bool,
    Int,
    Float,
    Str,
    Path,
    Quantity {
        unit: UnitKind,
    },
    List {
        of: Box<TypeDesc>,
    },
    Optional {
        of: Box<TypeDesc>,
    },
    /// A record with arbitrary string keys (`prompts = { screw = "a steel screw" }`).
    Map {
        of: Box<TypeDesc>,
    },
    /// A record with fixed fields.
    Record {
        fields: Vec<(&'static str, TypeDesc)>,
    },
    /// One of several types; `tag` is the serde variant name the runtime expects.
    Union {
        name: &'static str,
        alternatives: Vec<(&'static str, TypeDesc)>,
    },
    /// One of a fixed set of words (`bf16`, `LayerNorm`).
    Enum {
        name: &'static str,
        variants: Vec<&'static str>,
    },
    /// A component by name (`clips`, `hungarian`).
    Component {
        name: &'static str,
    },
    /// Any component of a kind (a `DslUnion` over a kind resolves to this when all alternatives share it).
    KindOf {
        kind: Kind,
    },
    /// A reference to a declared stage (`init = spatial`).
    StageRef,
}

impl TypeDesc {
    /// How the type is written in messages and docs.
    pub fn display(&self) -> String {
        match self {
            TypeDesc::Bool => "Bool".into(),
            TypeDesc::Int => "Int".into(),
            TypeDesc::Float => "Float".into(),
            TypeDesc::Str => "Str".into(),
            TypeDesc::Path => "Path".into(),
            TypeDesc::Quantity { unit } => unit.name().into(),
            TypeDesc::List { of } => format!("List<{}>", of.display()),
            TypeDesc::Optional { of } => format!("{}?", of.display()),
            TypeDesc::Map { of } => format!("Map<{}>", of.display()),
            TypeDesc::Record { fields } => format!(
                "{{ {} }}",
                fields
                    .iter()
                    .map(|(n, t)| format!("{n}: {}", t.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TypeDesc::Union { alternatives, .. } => alternatives
                .iter()
                .map(|(_, t)| t.display())
                .collect::<Vec<_>>()
                .join(" | "),
            TypeDesc::Enum { variants, .. } => variants.join(" | "),
            TypeDesc::Component { name } => (*name).into(),
            TypeDesc::KindOf { kind } => {
                let n = kind.noun();
                let mut c = n.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            }
            TypeDesc::StageRef => "Stage".into(),
        }
    }
}

/// One parameter of a component.
#[derive(Debug, Clone, Serialize)]
pub struct ParamSig {
    pub name: &'static str,
    pub ty: TypeDesc,
    /// The default, written in .sam3x syntax; `None` means required.
    pub default: Option<&'static str>,
    /// Allowed values, e.g. `0..=1`, `1..`.
    pub range: Option<&'static str>,
    pub doc: &'static str,
    /// The upstream constructor argument this maps to, when the name differs.
    pub upstream: Option<&'static str>,
    /// May be given without its name, in declaration order.
    pub positional: bool,
    /// Collects all remaining positional arguments into a list.
    pub variadic: bool,
}

/// The signature of a component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentSig {
    pub name: &'static str,
    pub kind: Kind,
    pub domain: Domain,
    /// The upstream `_target_`, for the upstream backend and `sam3c import`.
    pub upstream: Option<&'static str>,
    pub doc: &'static str,
    pub params: Vec<ParamSig>,
    /// The Rust type, for messages aimed at developers.
    pub rust_type: &'static str,
}

impl ComponentSig {
    pub fn param(&self, name: &str) -> Option<&ParamSig> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The first paragraph of the docs.
    pub fn summary(&self) -> &'static str {
        self.doc.split("\n\n").next().unwrap_or("").trim()
    }
}

/// Implemented by `#[derive(Component)]`.
pub trait Component {
    fn signature() -> ComponentSig;
}

/// The type of a Rust value as seen from a spec; implemented for primitives, units, collections, and by the
/// derives for components, unions and enums.
pub trait DslType {
    fn desc() -> TypeDesc;
}

macro_rules! dsl_type {
    ($($t:ty => $d:expr),* $(,)?) => { $(impl DslType for $t { fn desc() -> TypeDesc { $d } })* };
}

dsl_type! {
    bool => TypeDesc::Bool,
    u32 => TypeDesc::Int,
    u64 => TypeDesc::Int,
    i64 => TypeDesc::Int,
    f64 => TypeDesc::Float,
    String => TypeDesc::Str,
    std::path::PathBuf => TypeDesc::Path,
    crate::units::Pixels => TypeDesc::Quantity { unit: UnitKind::Pixels },
    crate::units::Steps => TypeDesc::Quantity { unit: UnitKind::Steps },
    crate::units::Epochs => TypeDesc::Quantity { unit: UnitKind::Epochs },
    crate::units::Duration => TypeDesc::Quantity { unit: UnitKind::Duration },
    crate::units::Percent => TypeDesc::Quantity { unit: UnitKind::Percent },
    crate::units::Span => TypeDesc::Union {
        name: "Span",
        alternatives: vec![
            ("Steps", TypeDesc::Quantity { unit: UnitKind::Steps }),
            ("Epochs", TypeDesc::Quantity { unit: UnitKind::Epochs }),
        ],
    },
}

impl<T: DslType> DslType for Vec<T> {
    fn desc() -> TypeDesc {
        TypeDesc::List {
            of: Box::new(T::desc()),
        }
    }
}

impl<T: DslType> DslType for Option<T> {
    fn desc() -> TypeDesc {
        TypeDesc::Optional {
            of: Box::new(T::desc()),
        }
    }
}

impl<T: DslType> DslType for std::collections::BTreeMap<String, T> {
    fn desc() -> TypeDesc {
        TypeDesc::Map {
            of: Box::new(T::desc()),
        }
    }
}

impl<T: DslType> DslType for Box<T> {
    fn desc() -> TypeDesc {
        T::desc()
    }
}
