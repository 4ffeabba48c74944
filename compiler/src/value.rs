//! Checked values. Every value remembers where it was written, and when it came from a declaration
//! (`model = detector`), which one.

use crate::db::FileId;
use crate::program::DeclId;
use sam3c_lang::ast::Span;
use sam3c_stdlib::catalog::{ComponentSig, UnitKind};
use std::rc::Rc;

#[derive(Debug, Clone)]
pub struct Val {
    pub value: Value,
    pub file: FileId,
    pub span: Span,
    /// The declaration this value is a reference to, if it is one.
    pub origin: Option<DeclId>,
}

#[derive(Debug, Clone)]
pub enum Value {
    /// A value whose error was already reported; checks skip it to avoid cascades.
    Error,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Path(String),
    /// A number with a unit, stored in the unit's base (seconds, fractions).
    Quantity(f64, UnitKind),
    List(Vec<Val>),
    Record(Vec<(String, Val)>),
    /// A word of an enum type (`bf16`, `LayerNorm`).
    Word(String),
    Component(Rc<ComponentValue>),
    /// A reference to a stage of the spec.
    Stage(DeclId),
}

/// A component with every parameter filled (given or defaulted).
#[derive(Debug, Clone)]
pub struct ComponentValue {
    pub sig: &'static ComponentSig,
    pub args: Vec<ArgValue>,
}

#[derive(Debug, Clone)]
pub struct ArgValue {
    pub name: &'static str,
    pub val: Val,
    /// Written in the spec (as opposed to defaulted).
    pub explicit: bool,
}

impl ComponentValue {
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.args.iter().find(|a| a.name == name).map(|a| &a.val)
    }

    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|a| a.name == name)
    }

    pub fn name(&self) -> &'static str {
        self.sig.name
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)?.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn word(&self, name: &str) -> Option<&str> {
        match &self.get(name)?.value {
            Value::Word(w) => Some(w),
            _ => None,
        }
    }

    pub fn number(&self, name: &str) -> Option<f64> {
        self.get(name)?.value.as_number()
    }

    pub fn component(&self, name: &str) -> Option<&Rc<ComponentValue>> {
        match &self.get(name)?.value {
            Value::Component(c) => Some(c),
            _ => None,
        }
    }

    pub fn list(&self, name: &str) -> &[Val] {
        match self.get(name).map(|v| &v.value) {
            Some(Value::List(items)) => items,
            _ => &[],
        }
    }
}

impl Val {
    pub fn new(value: Value, file: FileId, span: Span) -> Val {
        Val {
            value,
            file,
            span,
            origin: None,
        }
    }

    pub fn error(file: FileId, span: Span) -> Val {
        Val::new(Value::Error, file, span)
    }

    pub fn is_error(&self) -> bool {
        matches!(self.value, Value::Error)
    }

    pub fn component(&self) -> Option<&Rc<ComponentValue>> {
        match &self.value {
            Value::Component(c) => Some(c),
            _ => None,
        }
    }
}

impl Value {
    /// The magnitude of a number or quantity.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Quantity(q, _) => Some(*q),
            _ => None,
        }
    }

    /// A short description of what the value is, for "found ..." in messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Error => "an invalid value".into(),
            Value::None => "`none`".into(),
            Value::Bool(_) => "a Bool".into(),
            Value::Int(_) => "an Int".into(),
            Value::Float(_) => "a Float".into(),
            Value::Str(_) => "a Str".into(),
            Value::Path(_) => "a Path".into(),
            Value::Quantity(_, u) => format!("a {} value", u.name()),
            Value::List(_) => "a list".into(),
            Value::Record(_) => "a record".into(),
            Value::Word(w) => format!("the word `{w}`"),
            Value::Component(c) => format!("{} `{}`", article(c.sig.kind.noun()), c.sig.name),
            Value::Stage(_) => "a stage".into(),
        }
    }
}

fn article(noun: &str) -> String {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {noun}")
    } else {
        format!("a {noun}")
    }
}

/// Format a quantity in its canonical unit (`1008px`, `20 steps`, `72h`, `15%`).
pub fn format_quantity(x: f64, unit: UnitKind) -> String {
    let num = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        }
    };
    match unit {
        UnitKind::Pixels => format!("{}px", num(x)),
        UnitKind::Steps => format!("{} steps", num(x)),
        UnitKind::Epochs => format!("{} epochs", num(x)),
        UnitKind::Percent => format!("{}%", num((x * 100.0 * 1e9).round() / 1e9)),
        UnitKind::Duration => {
            if x >= 3600.0 && (x / 3600.0).fract() == 0.0 {
                format!("{}h", num(x / 3600.0))
            } else if x >= 60.0 && (x / 60.0).fract() == 0.0 {
                format!("{}min", num(x / 60.0))
            } else {
                format!("{}s", num(x))
            }
        }
    }
}
