//! The checked spec: every declaration evaluated and checked, stages in execution order. `resolved()` prints it
//! in .sam3x syntax with every default filled in, which is what the snapshot tests pin down.

use crate::checks::StageInfo;
use crate::eval::format_number;
use crate::program::{Binding, DeclId, DeclKind, ModuleId, Program};
use crate::value::{format_quantity, ComponentValue, Val, Value};
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

#[derive(Debug)]
pub struct CheckedSpec {
    pub program: Program,
    pub values: HashMap<DeclId, Val>,
    /// Stages in the order they run.
    pub stages: Vec<StageInfo>,
    pub experiment: Option<Rc<ComponentValue>>,
    pub resources: Option<Rc<ComponentValue>>,
    /// The experiment directory (`experiment.out`).
    pub out_dir: String,
    /// Swept parameters: the spec stands for one experiment per combination of their values.
    pub sweeps: Vec<crate::eval::Sweep>,
}

impl CheckedSpec {
    /// How many experiments the sweeps make (1 without sweeps).
    pub fn sweep_size(&self) -> usize {
        self.sweeps.iter().map(|s| s.values.len()).product()
    }

    pub fn stage(&self, name: &str) -> Option<&StageInfo> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// A stage's configuration as the runtime deserializes it (`sam3c_stdlib::components::stage::Stage`).
    pub fn stage_config(&self, stage: &StageInfo) -> serde_json::Value {
        crate::config::component_json_in(&stage.value, Some(&self.program))
    }

    /// The name by which a declaration is referred to from the root file (`detector`, `sam3.finetune`).
    pub fn decl_path(&self, id: DeclId) -> String {
        decl_path(&self.program, id)
    }

    /// Every root declaration with its checked value, in source order, every default written out.
    pub fn resolved(&self) -> String {
        let mut out = String::new();
        let root = self.program.root();
        for id in self.program.decl_ids(root) {
            let decl = self.program.decl(id);
            let Some(v) = self.values.get(&id) else {
                continue;
            };
            let header = match decl.kind {
                DeclKind::Experiment | DeclKind::Resources => decl.kind.keyword().to_string(),
                kind => format!("{} {}", kind.keyword(), decl.name()),
            };
            let _ = write!(out, "{header} = ");
            let mut p = Printer {
                program: &self.program,
                out: &mut out,
                indent: 0,
            };
            p.value(v, true);
            out.push_str("\n\n");
        }
        if !self.stages.is_empty() {
            let names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
            let _ = writeln!(out, "// stages run in this order: {}", names.join(", "));
        }
        out
    }
}

/// A value in .sam3x syntax, on one line when it is short (for messages).
pub fn show_value(program: &Program, v: &Val) -> String {
    let mut out = String::new();
    Printer {
        program,
        out: &mut out,
        indent: 0,
    }
    .value(v, true);
    if out.contains('\n') {
        out.lines().next().unwrap_or("").to_string() + " ..."
    } else {
        out
    }
}

pub fn decl_path(program: &Program, id: DeclId) -> String {
    let name = program.decl(id).name().to_string();
    if id.module == program.root() {
        return name;
    }
    let alias = program
        .module(program.root())
        .bindings
        .iter()
        .find(|(_, b)| **b == Binding::Module(id.module))
        .map(|(a, _)| a.clone());
    match alias {
        Some(a) => format!("{a}.{name}"),
        None => format!("{}::{name}", module_label(program, id.module)),
    }
}

fn module_label(program: &Program, m: ModuleId) -> String {
    program
        .files
        .get(program.module(m).file)
        .path
        .display()
        .to_string()
}

struct Printer<'a> {
    program: &'a Program,
    out: &'a mut String,
    indent: usize,
}

impl Printer<'_> {
    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
    }

    /// `top`: the value of a declaration itself (not a reference to it).
    fn value(&mut self, v: &Val, top: bool) {
        if let (false, Some(origin)) = (top, v.origin) {
            // Parameters and lets are resolved to their values; components keep their declared names.
            let named = !matches!(
                self.program.decl(origin).kind,
                DeclKind::Param | DeclKind::Let
            );
            if named && !matches!(v.value, Value::Stage(_)) {
                let path = decl_path(self.program, origin);
                self.out.push_str(&path);
                return;
            }
        }
        match &v.value {
            Value::Error => self.out.push_str("<error>"),
            Value::None => self.out.push_str("none"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&float(*f)),
            Value::Str(s) | Value::Path(s) => self.out.push_str(&format!("{s:?}")),
            Value::Quantity(q, u) => self.out.push_str(&format_quantity(*q, *u)),
            Value::Word(w) => self.out.push_str(w),
            Value::Stage(d) => self.out.push_str(&decl_path(self.program, *d)),
            Value::List(items) => {
                if items.is_empty() {
                    self.out.push_str("[]");
                } else if items.iter().all(is_simple) {
                    self.out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str(", ");
                        }
                        self.value(item, false);
                    }
                    self.out.push(']');
                } else {
                    self.out.push('[');
                    self.indent += 1;
                    for item in items {
                        self.newline();
                        self.value(item, false);
                        self.out.push(',');
                    }
                    self.indent -= 1;
                    self.newline();
                    self.out.push(']');
                }
            }
            Value::Record(items) => {
                self.out.push('{');
                for (i, (k, item)) in items.iter().enumerate() {
                    self.out.push_str(if i == 0 { " " } else { ", " });
                    self.out.push_str(k);
                    self.out.push_str(" = ");
                    self.value(item, false);
                }
                self.out.push_str(if items.is_empty() { "}" } else { " }" });
            }
            Value::Component(c) => {
                self.out.push_str(c.sig.name);
                if c.args.is_empty() {
                    self.out.push_str(" {}");
                    return;
                }
                self.out.push_str(" {");
                self.indent += 1;
                for a in &c.args {
                    self.newline();
                    self.out.push_str(a.name);
                    self.out.push_str(" = ");
                    self.value(&a.val, false);
                }
                self.indent -= 1;
                self.newline();
                self.out.push('}');
            }
        }
    }
}

fn is_simple(v: &Val) -> bool {
    v.origin.is_some()
        || !matches!(
            v.value,
            Value::Component(_) | Value::List(_) | Value::Record(_)
        )
}

/// Floats keep a decimal point, and small or large ones use an exponent (`8e-5`).
pub fn float(x: f64) -> String {
    if x == 0.0 {
        "0.0".into()
    } else if x.abs() < 1e-3 || x.abs() >= 1e7 {
        format!("{x:e}")
    } else if x.fract() == 0.0 {
        format!("{}.0", format_number(x))
    } else {
        // Shortest representation that round-trips.
        format!("{x}")
    }
}
