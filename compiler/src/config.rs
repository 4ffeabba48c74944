//! Checked values as the runtime's configuration: JSON in the exact shape serde expects for the stdlib structs
//! (union values tagged with their variant, quantities as plain numbers, stage references by name).

use crate::eval::fits;
use crate::program::Program;
use crate::types::Ty;
use crate::value::{ComponentValue, Val, Value};
use serde_json::{json, Map, Value as Json};

/// A component's configuration. Stage references need the program for their names; without it they are null.
pub fn component_json(c: &ComponentValue) -> Json {
    component_json_in(c, None)
}

pub fn component_json_in(c: &ComponentValue, program: Option<&Program>) -> Json {
    let mut obj = Map::new();
    for (p, a) in c.sig.params.iter().zip(&c.args) {
        obj.insert(
            p.name.to_string(),
            value_json(&a.val, &Ty::from_desc(&p.ty), program),
        );
    }
    Json::Object(obj)
}

pub fn value_json(v: &Val, ty: &Ty, program: Option<&Program>) -> Json {
    match ty {
        Ty::Optional(inner) => {
            return if matches!(v.value, Value::None) {
                Json::Null
            } else {
                value_json(v, inner, program)
            };
        }
        Ty::Refined(inner, _) => return value_json(v, inner, program),
        Ty::Union(_, alts) => {
            return match alts.iter().find(|(_, t)| fits(&v.value, t)) {
                Some((tag, t)) => json!({ tag.clone(): value_json(v, t, program) }),
                None => Json::Null,
            };
        }
        _ => {}
    }
    match &v.value {
        Value::Error | Value::None => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => match ty {
            Ty::Float => json!(*i as f64),
            _ => json!(i),
        },
        Value::Float(f) => json!(f),
        Value::Str(s) | Value::Path(s) => json!(s),
        Value::Quantity(q, u) => {
            if u.integral() {
                json!(*q as u64)
            } else {
                json!(q)
            }
        }
        Value::List(items) => {
            let of = match ty {
                Ty::List(of) => (**of).clone(),
                _ => Ty::Any,
            };
            Json::Array(items.iter().map(|i| value_json(i, &of, program)).collect())
        }
        Value::Record(items) => {
            let mut obj = Map::new();
            for (k, i) in items {
                let t = match ty {
                    Ty::Map(of) => (**of).clone(),
                    Ty::Record(fields) => fields
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, t)| t.clone())
                        .unwrap_or(Ty::Any),
                    _ => Ty::Any,
                };
                obj.insert(k.clone(), value_json(i, &t, program));
            }
            Json::Object(obj)
        }
        Value::Word(w) => json!(w),
        Value::Component(c) => component_json_in(c, program),
        Value::Stage(d) => match program {
            Some(p) => json!(p.decl(*d).name()),
            None => Json::Null,
        },
    }
}
