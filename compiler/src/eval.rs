//! Evaluation and type checking of expressions, in one pass: every expression is evaluated against the type its
//! place expects (a component parameter's type, a declaration kind's type), so that literals get their units and
//! union alternatives are chosen by what was written.

use crate::db::FileId;
use crate::diag::{Code, Diagnostic};
use crate::program::{Binding, DeclId, DeclKind, ModuleId, Program};
use crate::suggest;
use crate::types::{example, NumRange, Ty};
use crate::value::{format_quantity, ArgValue, ComponentValue, Val, Value};
use sam3c_lang::ast::{BinOp, Expr, ExprKind, Field, Ident, Span, StrPart, TypeExpr, TypeExprKind};
use sam3c_stdlib::catalog::{ComponentSig, Domain, Kind, UnitKind};
use sam3c_stdlib::components;
use std::collections::HashMap;
use std::rc::Rc;

/// A `--set name=value` override of a root parameter.
#[derive(Debug, Clone)]
pub struct Override {
    pub name: String,
    pub expr: Expr,
    /// The synthetic file holding the override's text (diagnostics point into it).
    pub file: FileId,
    pub name_span: Span,
}

/// A parameter whose value is `sweep([...])`: the spec is one experiment per value (upstream's job arrays).
#[derive(Debug, Clone)]
pub struct Sweep {
    pub decl: DeclId,
    pub values: Vec<Val>,
    pub file: FileId,
    pub span: Span,
}

pub struct Checker<'p> {
    pub program: &'p Program,
    /// Swept parameters, in declaration order.
    pub sweeps: Vec<Sweep>,
    /// Which combination of sweep values to use (row-major over `sweeps`).
    pub sweep_index: usize,
    pub diags: Vec<Diagnostic>,
    values: HashMap<DeclId, Val>,
    in_progress: Vec<DeclId>,
    overrides: HashMap<String, Override>,
    defaults: HashMap<(&'static str, &'static str), Option<Expr>>,
    /// The experiment's output directory, for `stage.checkpoint` paths.
    pub out_dir: String,
    /// Pipelines already checked (a pipeline shared by stages is reported once).
    pub checked_pipelines: std::collections::HashSet<DeclId>,
    /// Tracker prompts already checked (a model used by several stages is reported once), by position.
    pub checked_prompts: std::collections::HashSet<(FileId, u32)>,
    /// Parameters whose resolution was reported (one report per parameter, however many stages use it).
    pub reported_resolution_params: std::collections::HashSet<DeclId>,
    /// Optimizer/model pairs already reported.
    pub checked_optimizers: std::collections::HashSet<String>,
    /// Group-resolution issues by optimizer patterns and model (see `checks::check_optimizer`).
    pub resolved_groups: HashMap<String, Vec<sam3c_stdlib::groups::GroupIssue>>,
}

/// Where names are looked up.
#[derive(Clone, Copy)]
struct Scope {
    /// `None` for catalog defaults: only components and words are visible.
    module: Option<ModuleId>,
    file: FileId,
}

impl<'p> Checker<'p> {
    pub fn new(program: &'p Program, overrides: Vec<Override>) -> Checker<'p> {
        Checker {
            program,
            sweeps: Vec::new(),
            sweep_index: 0,
            diags: Vec::new(),
            values: HashMap::new(),
            in_progress: Vec::new(),
            overrides: overrides.into_iter().map(|o| (o.name.clone(), o)).collect(),
            defaults: HashMap::new(),
            out_dir: "runs".into(),
            checked_pipelines: Default::default(),
            checked_prompts: Default::default(),
            reported_resolution_params: Default::default(),
            checked_optimizers: Default::default(),
            resolved_groups: Default::default(),
        }
    }

    fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The value of a declaration (evaluated once).
    pub fn decl_value(&mut self, id: DeclId) -> Val {
        if let Some(v) = self.values.get(&id) {
            return v.clone();
        }
        let file = self.program.decl_file(id);
        let decl = self.program.decl(id);
        if let Some(pos) = self.in_progress.iter().position(|d| *d == id) {
            let cycle: Vec<DeclId> = self.in_progress[pos..].to_vec();
            let names: Vec<String> = cycle
                .iter()
                .map(|d| format!("`{}`", self.program.decl(*d).name()))
                .collect();
            let mut d = Diagnostic::new(Code::E0103, format!("`{}` refers to itself", decl.name()))
                .primary(file, decl.name_span(), "this declaration depends on itself");
            for other in cycle.iter().skip(1) {
                let o = self.program.decl(*other);
                d = d.secondary(
                    self.program.decl_file(*other),
                    o.name_span(),
                    format!("`{}` is part of the cycle", o.name()),
                );
            }
            d = d.note(format!("cycle: {} → `{}`", names.join(" → "), decl.name()));
            self.report(d);
            return Val::error(file, decl.name_span());
        }
        self.in_progress.push(id);
        let scope = Scope {
            module: Some(id.module),
            file,
        };
        let value = self.eval_decl(id, scope);
        self.in_progress.pop();
        self.values.insert(id, value.clone());
        value
    }

    /// The type a declaration's value must have.
    pub fn decl_type(&mut self, id: DeclId) -> Ty {
        let decl = self.program.decl(id);
        let file = self.program.decl_file(id);
        let domain = match &decl.ast.ty {
            Some(t) if decl.kind != DeclKind::Param && decl.kind != DeclKind::Let => {
                self.domain_annotation(t, file)
            }
            _ => Domain::Any,
        };
        let kind = |k: Kind| Ty::Kind(k, domain);
        match decl.kind {
            DeclKind::Param | DeclKind::Let => match &decl.ast.ty {
                Some(t) => self.user_type(t, file),
                None => Ty::Any,
            },
            DeclKind::Dataset => kind(Kind::Dataset),
            DeclKind::Pipeline => Ty::List(Box::new(kind(Kind::Transform))),
            DeclKind::Model => kind(Kind::Model),
            DeclKind::Loss => kind(Kind::Loss),
            DeclKind::Matcher => kind(Kind::Matcher),
            DeclKind::Optimizer => kind(Kind::Optimizer),
            DeclKind::Schedule => kind(Kind::Schedule),
            DeclKind::Meter => kind(Kind::Meter),
            DeclKind::Stage => Ty::Component("stage"),
            DeclKind::Evaluation => Ty::Component("evaluation"),
            DeclKind::Experiment => Ty::Component("experiment"),
            DeclKind::Resources => Ty::Component("resources"),
        }
    }

    fn eval_decl(&mut self, id: DeclId, scope: Scope) -> Val {
        let decl = self.program.decl(id).clone();
        if decl.kind == DeclKind::Param && decl.ast.ty.is_none() {
            self.report(
                Diagnostic::new(Code::E0211, format!("parameter `{}` has no type", decl.name()))
                    .primary(scope.file, decl.name_span(), "add `: Type` after the name")
                    .help(format!(
                        "parameters are typed so that `--set {}=...` is checked: e.g. `param {}: Float = ...`",
                        decl.name(),
                        decl.name()
                    )),
            );
        }
        let ty = self.decl_type(id);
        // A block declaration of a component kind must say which component: `dataset d = coco_images { ... }`.
        if decl.ast.block_form && ty.component_kind().is_some() && !matches!(ty, Ty::Component(_)) {
            let kind = ty.component_kind().unwrap();
            let names: Vec<&str> = components::all()
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.name)
                .collect();
            self.report(
                Diagnostic::new(
                    Code::E0200,
                    format!(
                        "this {} does not say which {} it is",
                        decl.kind.keyword(),
                        kind.noun()
                    ),
                )
                .primary(
                    scope.file,
                    decl.ast.value.span,
                    format!("a {} is expected here", kind.noun()),
                )
                .help(format!(
                    "write `{} {} = {} {{ ... }}`; the {}s are: {}",
                    decl.kind.keyword(),
                    decl.name(),
                    names.first().copied().unwrap_or("..."),
                    kind.noun(),
                    names.join(", ")
                )),
            );
            return Val::error(scope.file, decl.ast.value.span);
        }
        // Root parameters may be overridden from the command line.
        if decl.kind == DeclKind::Param && id.module == self.program.root() {
            if let Some(o) = self.overrides.get(decl.name()).cloned() {
                let scope = Scope {
                    module: Some(id.module),
                    file: o.file,
                };
                return self.param_value(id, scope, &o.expr, &ty);
            }
        }
        if decl.kind == DeclKind::Param {
            return self.param_value(id, scope, &decl.ast.value, &ty);
        }
        let mut v = self.eval(scope, &decl.ast.value, &ty);
        v.origin = None;
        v
    }

    /// A parameter's value; `sweep([a, b, ...])` makes it one of several (the selected one is returned).
    fn param_value(&mut self, id: DeclId, scope: Scope, expr: &Expr, ty: &Ty) -> Val {
        let ExprKind::Call { callee, args, .. } = &expr.kind else {
            return self.eval(scope, expr, ty);
        };
        if !matches!(&callee.kind, ExprKind::Name(n) if n.name == "sweep") {
            return self.eval(scope, expr, ty);
        }
        let items: Vec<&Expr> = match args.as_slice() {
            [a] if a.name.is_none() && matches!(a.value.kind, ExprKind::List(_)) => {
                match &a.value.kind {
                    ExprKind::List(items) => items.iter().collect(),
                    _ => unreachable!(),
                }
            }
            _ => args.iter().map(|a| &a.value).collect(),
        };
        if items.is_empty() {
            self.report(
                Diagnostic::new(Code::E0205, "`sweep` needs at least one value")
                    .primary(scope.file, expr.span, "empty sweep")
                    .help("write `sweep([value1, value2, ...])`"),
            );
            return Val::error(scope.file, expr.span);
        }
        let values: Vec<Val> = items.iter().map(|e| self.eval(scope, e, ty)).collect();
        // Mixed-radix decomposition of the sweep index over the swept parameters, in declaration order.
        let stride: usize = self.sweeps.iter().map(|s| s.values.len()).product();
        let choice = (self.sweep_index / stride.max(1)) % values.len();
        let chosen = values[choice].clone();
        self.sweeps.push(Sweep {
            decl: id,
            values,
            file: scope.file,
            span: expr.span,
        });
        chosen
    }

    /// `Image` / `Video` annotations on declarations of component kinds.
    fn domain_annotation(&mut self, t: &TypeExpr, file: FileId) -> Domain {
        if let TypeExprKind::Named { name, args } = &t.kind {
            if args.is_empty() {
                match name.name.as_str() {
                    "Image" => return Domain::Image,
                    "Video" => return Domain::Video,
                    _ => {}
                }
            }
        }
        self.report(
            Diagnostic::new(Code::E0200, "this annotation must be a domain")
                .primary(file, t.span, "expected `Image` or `Video`")
                .help("the declaration keyword gives the kind; the annotation only says which data it is for"),
        );
        Domain::Any
    }

    /// A type written by the user (`Float in 0..=1`, `List<Pixels>`, `Dataset<Image>`).
    pub fn user_type(&mut self, t: &TypeExpr, file: FileId) -> Ty {
        match &t.kind {
            TypeExprKind::Optional(inner) => Ty::Optional(Box::new(self.user_type(inner, file))),
            TypeExprKind::Union(alts) => {
                let alts = alts
                    .iter()
                    .map(|a| (a.span.start.to_string(), self.user_type(a, file)))
                    .collect();
                Ty::Union("user".into(), alts)
            }
            TypeExprKind::Refined { base, range } => {
                let base_ty = self.user_type(base, file);
                let bound = |e: &Option<Box<Expr>>| -> Option<f64> {
                    let e = e.as_ref()?;
                    match &e.kind {
                        ExprKind::Number(n) => Some(n.value() * unit_factor(n.unit.as_ref())),
                        ExprKind::Neg(inner) => match &inner.kind {
                            ExprKind::Number(n) => Some(-n.value() * unit_factor(n.unit.as_ref())),
                            _ => None,
                        },
                        _ => None,
                    }
                };
                let r = NumRange {
                    lo: bound(&range.lo),
                    hi: bound(&range.hi),
                    inclusive: range.inclusive,
                };
                if !matches!(base_ty, Ty::Int | Ty::Float | Ty::Quantity(_)) {
                    self.report(
                        Diagnostic::new(
                            Code::E0200,
                            format!("a range cannot restrict {}", base_ty),
                        )
                        .primary(
                            file,
                            range.span,
                            "ranges apply to numbers",
                        ),
                    );
                }
                Ty::Refined(Box::new(base_ty), r)
            }
            TypeExprKind::Record(fields) => Ty::Record(
                fields
                    .iter()
                    .map(|(n, t)| (n.name.clone(), self.user_type(t, file)))
                    .collect(),
            ),
            TypeExprKind::Named { name, args } => {
                let arg = |this: &mut Self, i: usize| args.get(i).map(|a| this.user_type(a, file));
                let domain_arg = |this: &mut Self| -> Domain {
                    match args.first() {
                        Some(a) => this.domain_annotation(a, file),
                        None => Domain::Any,
                    }
                };
                match name.name.as_str() {
                    "Int" => Ty::Int,
                    "Float" => Ty::Float,
                    "Bool" => Ty::Bool,
                    "Str" => Ty::Str,
                    "Path" => Ty::Path,
                    "Pixels" => Ty::Quantity(UnitKind::Pixels),
                    "Steps" => Ty::Quantity(UnitKind::Steps),
                    "Epochs" => Ty::Quantity(UnitKind::Epochs),
                    "Duration" => Ty::Quantity(UnitKind::Duration),
                    "Percent" => Ty::Quantity(UnitKind::Percent),
                    "List" => Ty::List(Box::new(arg(self, 0).unwrap_or(Ty::Any))),
                    "Map" => Ty::Map(Box::new(arg(self, 0).unwrap_or(Ty::Any))),
                    "Dataset" => Ty::Kind(Kind::Dataset, domain_arg(self)),
                    "Pipeline" => Ty::List(Box::new(Ty::Kind(Kind::Transform, domain_arg(self)))),
                    "Model" => Ty::Kind(Kind::Model, domain_arg(self)),
                    "Meter" => Ty::Kind(Kind::Meter, domain_arg(self)),
                    "Loss" => Ty::Kind(Kind::Loss, domain_arg(self)),
                    "Checkpoint" => Ty::Union(
                        "Init".into(),
                        vec![
                            ("Stage".into(), Ty::StageRef),
                            ("Checkpoint".into(), Ty::Path),
                        ],
                    ),
                    other => {
                        const NAMES: &[&str] = &[
                            "Int",
                            "Float",
                            "Bool",
                            "Str",
                            "Path",
                            "Pixels",
                            "Steps",
                            "Epochs",
                            "Duration",
                            "Percent",
                            "List",
                            "Map",
                            "Dataset",
                            "Pipeline",
                            "Model",
                            "Meter",
                            "Loss",
                            "Checkpoint",
                        ];
                        let mut d = Diagnostic::new(Code::E0100, format!("unknown type `{other}`"))
                            .primary(file, name.span, "not a type");
                        d = d.help(match suggest::did_you_mean(other, NAMES.iter().copied()) {
                            Some(s) => s,
                            None => format!("the types are: {}", NAMES.join(", ")),
                        });
                        self.report(d);
                        Ty::Any
                    }
                }
            }
        }
    }

    /// Evaluate `expr` where a value of type `ty` is expected.
    fn eval(&mut self, scope: Scope, expr: &Expr, ty: &Ty) -> Val {
        let file = scope.file;
        match ty {
            Ty::Optional(inner) => {
                match &expr.kind {
                    ExprKind::None => return Val::new(Value::None, file, expr.span),
                    // A reference may itself hold `none` (`weights = weights` with `param weights: Path? = none`).
                    ExprKind::Name(ident) if !self.is_word(inner, &ident.name) => {
                        return self.name(scope, ident, ty)
                    }
                    ExprKind::Field { base, field } => {
                        return self.field(scope, expr, base, field, ty)
                    }
                    _ => return self.eval(scope, expr, inner),
                }
            }
            Ty::Refined(base, range) => {
                let v = self.eval(scope, expr, base);
                self.check_range(&v, range);
                return v;
            }
            Ty::Union(_, alts) => {
                if let Some(alt) = self.pick_alternative(scope, expr, alts) {
                    return self.eval(scope, expr, &alt);
                }
                let v = self.eval(scope, expr, &Ty::Any);
                return self.conform(v, ty);
            }
            _ => {}
        }
        if matches!(expr.kind, ExprKind::None) {
            if !matches!(ty, Ty::Any) {
                self.report(
                    Diagnostic::new(
                        Code::E0200,
                        format!("expected {}, found `none`", ty.describe()),
                    )
                    .primary(file, expr.span, "this parameter cannot be empty"),
                );
                return Val::error(file, expr.span);
            }
            return Val::new(Value::None, file, expr.span);
        }
        let v = match &expr.kind {
            ExprKind::Number(n) => self.number(file, expr.span, n, ty),
            ExprKind::Str(s) => {
                let mut text = String::new();
                let mut ok = true;
                for part in &s.parts {
                    match part {
                        StrPart::Text(t) => text.push_str(t),
                        StrPart::Interp(path) => match self.interpolate(scope, path) {
                            Some(t) => text.push_str(&t),
                            None => ok = false,
                        },
                    }
                }
                if !ok {
                    return Val::error(file, expr.span);
                }
                if matches!(ty.base(), Ty::Path) {
                    Val::new(Value::Path(text), file, expr.span)
                } else {
                    Val::new(Value::Str(text), file, expr.span)
                }
            }
            ExprKind::Bool(b) => Val::new(Value::Bool(*b), file, expr.span),
            ExprKind::None => unreachable!("handled above"),
            ExprKind::Paren(inner) => {
                let mut v = self.eval(scope, inner, ty);
                v.span = expr.span;
                return v;
            }
            ExprKind::Name(ident) => return self.name(scope, ident, ty),
            ExprKind::Field { base, field } => return self.field(scope, expr, base, field, ty),
            ExprKind::Call { callee, args, .. } => return self.call(scope, expr, callee, args, ty),
            ExprKind::List(items) => {
                let elem = match ty.base() {
                    Ty::List(of) => (**of).clone(),
                    _ => Ty::Any,
                };
                let vals = items.iter().map(|i| self.eval(scope, i, &elem)).collect();
                Val::new(Value::List(vals), file, expr.span)
            }
            ExprKind::Record(fields) => return self.record(scope, expr, fields, ty),
            ExprKind::With { base, fields } => return self.with(scope, expr, base, fields, ty),
            ExprKind::Binary { op, lhs, rhs } => self.binary(scope, expr.span, *op, lhs, rhs),
            ExprKind::Neg(inner) => {
                let v = self.eval(scope, inner, ty);
                let value = match v.value {
                    Value::Int(i) => Value::Int(-i),
                    Value::Float(f) => Value::Float(-f),
                    Value::Quantity(q, u) => Value::Quantity(-q, u),
                    Value::Error => Value::Error,
                    ref other => {
                        self.report(
                            Diagnostic::new(
                                Code::E0200,
                                format!("cannot negate {}", other.describe()),
                            )
                            .primary(
                                file,
                                expr.span,
                                "`-` needs a number",
                            ),
                        );
                        Value::Error
                    }
                };
                Val::new(value, file, expr.span)
            }
        };
        self.conform(v, ty)
    }

    fn is_word(&self, ty: &Ty, name: &str) -> bool {
        matches!(ty.base(), Ty::Enum(_, words) if words.iter().any(|w| w == name))
    }

    /// Choose the alternative of a union that what was written can be.
    fn pick_alternative(&mut self, scope: Scope, expr: &Expr, alts: &[(String, Ty)]) -> Option<Ty> {
        let find =
            |pred: &dyn Fn(&Ty) -> bool| alts.iter().find(|(_, t)| pred(t)).map(|(_, t)| t.clone());
        match &expr.kind {
            ExprKind::Number(n) => {
                if let Some(u) = &n.unit {
                    if let Some((unit, _)) = UnitKind::from_suffix(&u.name) {
                        return find(&|t| matches!(t.base(), Ty::Quantity(x) if *x == unit))
                            .or_else(|| find(&|t| matches!(t.base(), Ty::Quantity(_))));
                    }
                    return find(&|t| matches!(t.base(), Ty::Quantity(_)));
                }
                find(&|t| matches!(t.base(), Ty::Int | Ty::Float))
                    .or_else(|| find(&|t| matches!(t.base(), Ty::Quantity(_))))
            }
            ExprKind::Str(_) => find(&|t| matches!(t.base(), Ty::Str | Ty::Path)),
            ExprKind::Bool(_) => find(&|t| matches!(t.base(), Ty::Bool)),
            ExprKind::List(_) => find(&|t| matches!(t.base(), Ty::List(_))),
            ExprKind::Record(_) => {
                find(&|t| matches!(t.base(), Ty::Map(_) | Ty::Record(_) | Ty::Component(_)))
            }
            ExprKind::Call { callee, .. } => match &callee.kind {
                ExprKind::Name(n) => find(&|t| t.accepts_component(&n.name)),
                _ => None,
            },
            ExprKind::With { base, .. } | ExprKind::Paren(base) => {
                self.pick_alternative(scope, base, alts)
            }
            ExprKind::Name(n) => {
                if let Some(t) =
                    find(&|t| matches!(t.base(), Ty::Enum(_, words) if words.contains(&n.name)))
                {
                    return Some(t);
                }
                match scope
                    .module
                    .and_then(|m| self.program.module(m).bindings.get(&n.name).copied())
                {
                    Some(Binding::Decl(d)) if self.program.decl(d).kind == DeclKind::Stage => {
                        find(&|t| matches!(t, Ty::StageRef))
                    }
                    Some(Binding::Decl(d)) => {
                        let v = self.decl_value(d);
                        self.alternative_of_value(&v, alts)
                    }
                    Some(Binding::Module(_)) => None,
                    None => find(&|t| t.accepts_component(&n.name)),
                }
            }
            _ => {
                let v = self.eval(scope, expr, &Ty::Any);
                self.alternative_of_value(&v, alts)
            }
        }
    }

    fn alternative_of_value(&self, v: &Val, alts: &[(String, Ty)]) -> Option<Ty> {
        alts.iter()
            .find(|(_, t)| fits(&v.value, t))
            .map(|(_, t)| t.clone())
    }

    /// Check that an evaluated value fits a type, converting Int to Float and Str to Path; report a mismatch.
    fn conform(&mut self, v: Val, ty: &Ty) -> Val {
        if v.is_error() || matches!(ty, Ty::Any) {
            return v;
        }
        if fits(&v.value, ty) {
            return coerce(v, ty);
        }
        let mut d = match (&v.value, ty.base()) {
            (Value::Quantity(_, have), Ty::Quantity(want)) => Diagnostic::new(
                Code::E0202,
                format!("expected {}, found {}", want.name(), have.name()),
            )
            .primary(v.file, v.span, format!("this is a {} value", have.name()))
            .help(format!(
                "a {} value is written like `{}`",
                want.name(),
                example(*want)
            )),
            (Value::Int(_) | Value::Float(_), Ty::Quantity(want)) => Diagnostic::new(
                Code::E0201,
                format!("this number needs a unit: {}", want.name()),
            )
            .primary(v.file, v.span, format!("expected {}", ty.describe()))
            .help(format!(
                "write the unit after the number, e.g. `{}`",
                example(*want)
            )),
            (Value::Component(c), _)
                if ty.component_kind().is_some() && ty.component_kind() != Some(c.sig.kind) =>
            {
                let kind = ty.component_kind().unwrap();
                let names: Vec<&str> = components::all()
                    .iter()
                    .filter(|s| s.kind == kind)
                    .map(|s| s.name)
                    .collect();
                Diagnostic::new(
                    Code::E0200,
                    format!("expected {}, found {}", ty.describe(), v.value.describe()),
                )
                .primary(v.file, v.span, format!("this is a {}", c.sig.kind.noun()))
                .help(format!("the {}s are: {}", kind.noun(), names.join(", ")))
            }
            (Value::Component(c), Ty::Kind(k, d)) if c.sig.kind == *k => Diagnostic::new(
                Code::E0305,
                format!(
                    "`{}` is for {} data, but {} data is expected here",
                    c.sig.name,
                    c.sig.domain.name().to_lowercase(),
                    d.name().to_lowercase()
                ),
            )
            .primary(
                v.file,
                v.span,
                format!("works on {} only", c.sig.domain.name().to_lowercase()),
            ),
            _ => Diagnostic::new(
                Code::E0200,
                format!("expected {}, found {}", ty.describe(), v.value.describe()),
            )
            .primary(v.file, v.span, format!("expected {}", ty)),
        };
        if let Some(origin) = v.origin {
            let decl = self.program.decl(origin);
            d = d.secondary(
                self.program.decl_file(origin),
                decl.name_span(),
                format!("`{}` is declared here", decl.name()),
            );
        }
        self.report(d);
        Val::error(v.file, v.span)
    }

    fn check_range(&mut self, v: &Val, range: &NumRange) {
        let Some(x) = v.value.as_number() else { return };
        if !range.contains(x) {
            let shown = match v.value {
                Value::Quantity(q, u) => format_quantity(q, u),
                _ => format_number(x),
            };
            self.report(
                Diagnostic::new(Code::E0204, format!("{shown} is out of range"))
                    .primary(v.file, v.span, format!("must be in {range}"))
                    .help(range_help(range)),
            );
        }
    }

    fn number(&mut self, file: FileId, span: Span, n: &sam3c_lang::ast::NumberLit, ty: &Ty) -> Val {
        let x = n.value();
        match &n.unit {
            Some(u) => match UnitKind::from_suffix(&u.name) {
                Some((unit, factor)) => {
                    let q = x * factor;
                    if unit.integral() && q.fract() != 0.0 {
                        self.report(
                            Diagnostic::new(
                                Code::E0200,
                                format!("{} must be a whole number", unit.name()),
                            )
                            .primary(file, span, "has a fraction"),
                        );
                        return Val::error(file, span);
                    }
                    Val::new(Value::Quantity(q, unit), file, span)
                }
                None => {
                    let all: Vec<&str> = UnitKind::ALL
                        .iter()
                        .flat_map(|u| u.suffixes().iter().map(|(s, _)| *s))
                        .collect();
                    let expected_unit = match ty.base() {
                        Ty::Quantity(unit) => Some(*unit),
                        _ => None,
                    };
                    let help = match suggest::did_you_mean(&u.name, all.iter().copied()) {
                        Some(s) => s,
                        None => match expected_unit {
                            Some(unit) => format!(
                                "a {} value is written like `{}`",
                                unit.name(),
                                example(unit)
                            ),
                            None => format!("the units are: {}", all.join(", ")),
                        },
                    };
                    self.report(
                        Diagnostic::new(Code::E0203, format!("unknown unit `{}`", u.name))
                            .primary(file, u.span, "not a unit")
                            .help(help),
                    );
                    Val::error(file, span)
                }
            },
            None => {
                if n.is_integer && x.abs() < 9.0e15 && !matches!(ty.base(), Ty::Float) {
                    Val::new(Value::Int(x as i64), file, span)
                } else {
                    Val::new(Value::Float(x), file, span)
                }
            }
        }
    }

    fn interpolate(&mut self, scope: Scope, path: &[Ident]) -> Option<String> {
        let first = path.first()?;
        let mut expr = Expr {
            kind: ExprKind::Name(first.clone()),
            span: first.span,
        };
        for seg in &path[1..] {
            let span = expr.span.to(seg.span);
            expr = Expr {
                kind: ExprKind::Field {
                    base: Box::new(expr),
                    field: seg.clone(),
                },
                span,
            };
        }
        let v = self.eval(scope, &expr, &Ty::Any);
        match &v.value {
            Value::Str(s) | Value::Path(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_number(*f)),
            Value::Quantity(q, u) => Some(format_quantity(*q, *u)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Word(w) => Some(w.clone()),
            Value::Error => None,
            other => {
                self.report(
                    Diagnostic::new(
                        Code::E0200,
                        format!("cannot put {} into a string", other.describe()),
                    )
                    .primary(
                        scope.file,
                        expr.span,
                        "only text, paths and numbers can be interpolated",
                    ),
                );
                None
            }
        }
    }

    fn name(&mut self, scope: Scope, ident: &Ident, ty: &Ty) -> Val {
        let file = scope.file;
        // Words of the expected enum come first: `size = tiny`, `precision = bf16`.
        if let Ty::Enum(_, words) = ty.base() {
            if words.contains(&ident.name) {
                return Val::new(Value::Word(ident.name.clone()), file, ident.span);
            }
        }
        let binding = scope
            .module
            .and_then(|m| self.program.module(m).bindings.get(&ident.name).copied());
        match binding {
            Some(Binding::Decl(d)) => self.decl_reference(d, file, ident.span, ty),
            Some(Binding::Module(_)) => {
                self.report(
                    Diagnostic::new(
                        Code::E0200,
                        format!("`{}` is an imported file, not a value", ident.name),
                    )
                    .primary(file, ident.span, "an import")
                    .help(format!(
                        "use one of its declarations: `{}.NAME`",
                        ident.name
                    )),
                );
                Val::error(file, ident.span)
            }
            None => {
                if components::lookup(&ident.name).is_some() {
                    // A component without arguments: `filter_crowds`, `decode_masks`.
                    let callee = Expr {
                        kind: ExprKind::Name(ident.clone()),
                        span: ident.span,
                    };
                    let call = Expr {
                        kind: ExprKind::Call {
                            callee: Box::new(callee.clone()),
                            args: vec![],
                            block: false,
                        },
                        span: ident.span,
                    };
                    return self.call(scope, &call, &callee, &[], ty);
                }
                if let Ty::Enum(name, words) = ty.base() {
                    let mut d = Diagnostic::new(
                        Code::E0210,
                        format!("`{}` is not a {}", ident.name, name_words(name)),
                    )
                    .primary(
                        file,
                        ident.span,
                        format!("expected one of {}", words.join(", ")),
                    );
                    if let Some(s) =
                        suggest::did_you_mean(&ident.name, words.iter().map(|s| s.as_str()))
                    {
                        d = d.help(s);
                    }
                    self.report(d);
                    return Val::error(file, ident.span);
                }
                self.unknown_name(scope, ident, ty);
                Val::error(file, ident.span)
            }
        }
    }

    fn unknown_name(&mut self, scope: Scope, ident: &Ident, ty: &Ty) {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(m) = scope.module {
            candidates.extend(self.program.module(m).bindings.keys().cloned());
        }
        candidates.extend(components::all().iter().map(|c| c.name.to_string()));
        collect_words(ty, &mut candidates);
        let mut d = Diagnostic::new(Code::E0100, format!("unknown name `{}`", ident.name)).primary(
            scope.file,
            ident.span,
            "not declared",
        );
        match suggest::best(&ident.name, candidates.iter().map(|s| s.as_str())) {
            Some(best) => {
                d = d.help(format!("did you mean `{best}`?"));
                if let Some(Binding::Decl(decl)) = scope
                    .module
                    .and_then(|m| self.program.module(m).bindings.get(best).copied())
                {
                    let info = self.program.decl(decl);
                    d = d.secondary(
                        self.program.decl_file(decl),
                        info.name_span(),
                        format!("`{best}` is declared here"),
                    );
                }
            }
            None => {
                if let Some(k) = ty.component_kind() {
                    let names: Vec<&str> = components::all()
                        .iter()
                        .filter(|c| c.kind == k)
                        .map(|c| c.name)
                        .collect();
                    d = d.help(format!(
                        "declare it, or use one of the {}s: {}",
                        k.noun(),
                        names.join(", ")
                    ));
                }
            }
        }
        self.report(d);
    }

    /// The value of a reference to declaration `d` at `span`: a stage is a handle (stages are run, not
    /// evaluated); any other declaration is its value, located at the reference for diagnostics.
    fn decl_reference(&mut self, d: DeclId, file: FileId, span: Span, ty: &Ty) -> Val {
        let v = if self.program.decl(d).kind == DeclKind::Stage {
            Val {
                value: Value::Stage(d),
                file,
                span,
                origin: Some(d),
            }
        } else {
            Val {
                file,
                span,
                origin: Some(d),
                ..self.decl_value(d)
            }
        };
        self.conform(v, ty)
    }

    fn field(&mut self, scope: Scope, expr: &Expr, base: &Expr, field: &Ident, ty: &Ty) -> Val {
        let file = scope.file;
        // `alias.name`: a declaration of an imported file.
        if let ExprKind::Name(b) = &base.kind {
            if let Some(Binding::Module(m)) = scope
                .module
                .and_then(|mm| self.program.module(mm).bindings.get(&b.name).copied())
            {
                let target = self.program.module(m).bindings.get(&field.name).copied();
                return match target {
                    Some(Binding::Decl(d)) => self.decl_reference(d, file, expr.span, ty),
                    _ => {
                        let names: Vec<String> =
                            self.program.module(m).bindings.keys().cloned().collect();
                        let path = self
                            .program
                            .files
                            .get(self.program.module(m).file)
                            .path
                            .display()
                            .to_string();
                        let mut d = Diagnostic::new(
                            Code::E0105,
                            format!("`{path}` has no declaration `{}`", field.name),
                        )
                        .primary(file, field.span, "not declared there");
                        d = d.help(
                            match suggest::did_you_mean(
                                &field.name,
                                names.iter().map(|s| s.as_str()),
                            ) {
                                Some(s) => s,
                                None => {
                                    let mut sorted = names.clone();
                                    sorted.sort();
                                    format!("it declares: {}", sorted.join(", "))
                                }
                            },
                        );
                        self.report(d);
                        Val::error(file, expr.span)
                    }
                };
            }
        }
        let b = self.eval(scope, base, &Ty::Any);
        let v = match &b.value {
            Value::Error => return Val::error(file, expr.span),
            Value::Component(c) => match c.get(&field.name) {
                Some(v) => {
                    let mut v = v.clone();
                    v.file = file;
                    v.span = expr.span;
                    v
                }
                None => {
                    let names: Vec<&str> = c.sig.params.iter().map(|p| p.name).collect();
                    let mut d = Diagnostic::new(
                        Code::E0105,
                        format!("`{}` has no field `{}`", c.sig.name, field.name),
                    )
                    .primary(file, field.span, "unknown field");
                    d = d.help(
                        match suggest::did_you_mean(&field.name, names.iter().copied()) {
                            Some(s) => s,
                            None => format!("its fields are: {}", names.join(", ")),
                        },
                    );
                    self.report(d);
                    return Val::error(file, expr.span);
                }
            },
            Value::Record(fields) => match fields.iter().find(|(k, _)| *k == field.name) {
                Some((_, v)) => {
                    let mut v = v.clone();
                    v.file = file;
                    v.span = expr.span;
                    v
                }
                None => {
                    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
                    let mut d = Diagnostic::new(
                        Code::E0105,
                        format!("this record has no field `{}`", field.name),
                    )
                    .primary(file, field.span, "unknown field");
                    if let Some(s) = suggest::did_you_mean(&field.name, names.iter().copied()) {
                        d = d.help(s);
                    }
                    self.report(d);
                    return Val::error(file, expr.span);
                }
            },
            Value::Stage(stage) => {
                if field.name == "checkpoint" {
                    let name = self.program.decl(*stage).name().to_string();
                    let path = format!(
                        "{}/{}/checkpoints/final.safetensors",
                        self.out_dir.trim_end_matches('/'),
                        name
                    );
                    Val {
                        value: Value::Path(path),
                        file,
                        span: expr.span,
                        origin: Some(*stage),
                    }
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::E0105,
                            format!("a stage has no field `{}`", field.name),
                        )
                        .primary(file, field.span, "unknown field")
                        .help(
                            "a stage has one output: `checkpoint`, the path of its final weights",
                        ),
                    );
                    return Val::error(file, expr.span);
                }
            }
            other => {
                self.report(
                    Diagnostic::new(Code::E0105, format!("{} has no fields", other.describe()))
                        .primary(file, field.span, "unknown field"),
                );
                return Val::error(file, expr.span);
            }
        };
        self.conform(v, ty)
    }

    fn call(
        &mut self,
        scope: Scope,
        expr: &Expr,
        callee: &Expr,
        args: &[sam3c_lang::ast::Arg],
        ty: &Ty,
    ) -> Val {
        let file = scope.file;
        let ExprKind::Name(name) = &callee.kind else {
            self.report(
                Diagnostic::new(Code::E0104, "only components can be called")
                    .primary(file, callee.span, "not a component name")
                    .help("to change a declared value, write `NAME with { field = value }`"),
            );
            return Val::error(file, expr.span);
        };
        if name.name == "sweep" {
            self.report(
                Diagnostic::new(
                    Code::E0200,
                    "`sweep(...)` can only be the value of a `param`",
                )
                .primary(file, expr.span, "not a parameter's value")
                .help("declare `param NAME: Type = sweep([...])` and use `NAME` here"),
            );
            return Val::error(file, expr.span);
        }
        let Some(sig) = components::lookup(&name.name) else {
            let is_decl = scope
                .module
                .is_some_and(|m| self.program.module(m).bindings.contains_key(&name.name));
            let mut d = Diagnostic::new(Code::E0104, format!("unknown component `{}`", name.name))
                .primary(file, name.span, "not a component");
            if is_decl {
                d = d.help(format!(
                    "`{0}` is a declaration, not a component; to change its fields write `{0} with {{ ... }}`",
                    name.name
                ));
            } else {
                let kind = ty.component_kind();
                let preferred: Vec<&str> = components::all()
                    .iter()
                    .filter(|c| kind.is_none_or(|k| c.kind == k))
                    .map(|c| c.name)
                    .collect();
                let all: Vec<&str> = components::all().iter().map(|c| c.name).collect();
                d = d.help(
                    suggest::did_you_mean(&name.name, preferred.iter().copied())
                        .or_else(|| suggest::did_you_mean(&name.name, all.iter().copied()))
                        .unwrap_or_else(|| match kind {
                            Some(k) => format!("the {}s are: {}", k.noun(), preferred.join(", ")),
                            None => "`sam3c doc` lists every component".into(),
                        }),
                );
            }
            self.report(d);
            return Val::error(file, expr.span);
        };
        let given: Vec<(Option<&Ident>, &Expr, Span)> = args
            .iter()
            .map(|a| (a.name.as_ref(), &a.value, a.span))
            .collect();
        let v = self.instantiate(scope, sig, expr.span, name.span, &given);
        self.conform(v, ty)
    }

    /// Check arguments against a signature and fill in defaults.
    fn instantiate(
        &mut self,
        scope: Scope,
        sig: &'static ComponentSig,
        span: Span,
        name_span: Span,
        given: &[(Option<&Ident>, &Expr, Span)],
    ) -> Val {
        let file = scope.file;
        let mut values: Vec<Option<(Val, bool)>> = vec![None; sig.params.len()];
        let mut arg_spans: Vec<Option<Span>> = vec![None; sig.params.len()];
        let positional: Vec<usize> = sig
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.positional)
            .map(|(i, _)| i)
            .collect();
        let mut next_positional = 0;
        let mut variadic_items: Vec<Val> = Vec::new();
        let mut variadic_index: Option<usize> = None;
        for (name, value, arg_span) in given {
            let index = match name {
                None => {
                    let Some(&i) = positional.get(next_positional) else {
                        if let Some(vi) = variadic_index {
                            let p = &sig.params[vi];
                            let elem = match Ty::from_desc(&p.ty) {
                                Ty::List(of) => *of,
                                t => t,
                            };
                            let v = self.eval(scope, value, &elem);
                            variadic_items.push(v);
                            continue;
                        }
                        let named: Vec<&str> = sig
                            .params
                            .iter()
                            .filter(|p| !p.positional)
                            .map(|p| p.name)
                            .collect();
                        self.report(
                            Diagnostic::new(
                                Code::E0208,
                                format!(
                                    "`{}` takes {} positional argument{}",
                                    sig.name,
                                    positional.len(),
                                    if positional.len() == 1 { "" } else { "s" }
                                ),
                            )
                            .primary(file, *arg_span, "one too many")
                            .help(if named.is_empty() {
                                "remove it".to_string()
                            } else {
                                format!(
                                    "name the argument: {}",
                                    named
                                        .iter()
                                        .map(|n| format!("`{n} = ...`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }),
                        );
                        continue;
                    };
                    next_positional += 1;
                    if sig.params[i].variadic {
                        variadic_index = Some(i);
                        let elem = match Ty::from_desc(&sig.params[i].ty) {
                            Ty::List(of) => *of,
                            t => t,
                        };
                        let v = self.eval(scope, value, &elem);
                        variadic_items.push(v);
                        arg_spans[i] = Some(*arg_span);
                        continue;
                    }
                    i
                }
                Some(n) => match sig.params.iter().position(|p| p.name == n.name) {
                    Some(i) => i,
                    None => {
                        let names: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
                        let mut d = Diagnostic::new(
                            Code::E0206,
                            format!("`{}` has no parameter `{}`", sig.name, n.name),
                        )
                        .primary(file, n.span, "unknown parameter");
                        d = d.help(
                            match suggest::did_you_mean(&n.name, names.iter().copied()) {
                                Some(s) => s,
                                None => format!("its parameters are: {}", names.join(", ")),
                            },
                        );
                        self.report(d);
                        continue;
                    }
                },
            };
            if let Some(prev) = arg_spans[index] {
                self.report(
                    Diagnostic::new(
                        Code::E0207,
                        format!("`{}` is given twice", sig.params[index].name),
                    )
                    .primary(file, *arg_span, "given again here")
                    .secondary(file, prev, "first given here"),
                );
                continue;
            }
            arg_spans[index] = Some(*arg_span);
            if sig.name == "stage" && sig.params[index].name == "resume" {
                if let Some(stage) = self.stage_reference(scope, value) {
                    self.resume_from_other_stage(file, value.span, stage);
                    values[index] = Some((Val::new(Value::None, file, *arg_span), true));
                    continue;
                }
            }
            let pty = Ty::from_desc(&sig.params[index].ty);
            let v = self.eval(scope, value, &pty);
            if let Some(r) = sig.params[index].range.and_then(NumRange::parse) {
                self.check_range(&v, &r);
            }
            values[index] = Some((v, true));
        }
        if let Some(vi) = variadic_index {
            values[vi] = Some((
                Val::new(
                    Value::List(variadic_items),
                    file,
                    arg_spans[vi].unwrap_or(span),
                ),
                true,
            ));
        }
        let mut missing = Vec::new();
        for (i, p) in sig.params.iter().enumerate() {
            if values[i].is_some() {
                continue;
            }
            match p.default {
                Some(default) => {
                    let v = self.default_value(sig, i, default, file, span);
                    values[i] = Some((v, false));
                }
                None => missing.push(p),
            }
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|p| format!("`{}`", p.name)).collect();
            let listing: Vec<String> = missing
                .iter()
                .map(|p| format!("{} ({}): {}", p.name, Ty::from_desc(&p.ty), p.doc))
                .collect();
            self.report(
                Diagnostic::new(
                    Code::E0205,
                    format!(
                        "`{}` is missing {} {}",
                        sig.name,
                        if missing.len() == 1 {
                            "parameter"
                        } else {
                            "parameters"
                        },
                        names.join(", ")
                    ),
                )
                .primary(file, name_span, format!("needs {}", names.join(", ")))
                .help(listing.join("\n")),
            );
            return Val::error(file, span);
        }
        // An argument that was dropped above was reported; the component is still returned, so that later checks
        // see it.
        let args = sig
            .params
            .iter()
            .zip(values)
            .map(|(p, v)| {
                let (val, explicit) = v.expect("filled above");
                ArgValue {
                    name: p.name,
                    val,
                    explicit,
                }
            })
            .collect();
        Val::new(
            Value::Component(Rc::new(ComponentValue { sig, args })),
            file,
            span,
        )
    }

    /// The stage a name (or `alias.name`) refers to, if it is one.
    fn stage_reference(&self, scope: Scope, e: &Expr) -> Option<DeclId> {
        let module = scope.module?;
        let binding = match &e.kind {
            ExprKind::Name(n) => self.program.module(module).bindings.get(&n.name).copied(),
            ExprKind::Field { base, field } => match &base.kind {
                ExprKind::Name(b) if field.name == "checkpoint" => {
                    self.program.module(module).bindings.get(&b.name).copied()
                }
                ExprKind::Name(b) => match self.program.module(module).bindings.get(&b.name) {
                    Some(Binding::Module(m)) => {
                        self.program.module(*m).bindings.get(&field.name).copied()
                    }
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        match binding {
            Some(Binding::Decl(d)) if self.program.decl(d).kind == DeclKind::Stage => Some(d),
            _ => None,
        }
    }

    /// `resume = spatial`: resuming continues an interrupted run of the same stage; starting from another
    /// stage's weights is `init`.
    fn resume_from_other_stage(&mut self, file: FileId, span: Span, stage: DeclId) {
        let name = self.program.decl(stage).name().to_string();
        let decl_span = self.program.decl(stage).name_span();
        self.report(
            Diagnostic::new(Code::E0302, format!("`resume` continues this stage's own interrupted run, not `{name}`"))
                .primary(file, span, format!("`{name}` is another stage"))
                .secondary(self.program.decl_file(stage), decl_span, format!("`{name}` is declared here"))
                .help(format!(
                    "to start from `{name}`'s final weights with a fresh optimizer and schedule, write `init = {name}`; \
                     to continue an interrupted run of this stage, run `sam3c run --resume`"
                )),
        );
    }

    /// A catalog default, evaluated where the component was written (so its span points there).
    fn default_value(
        &mut self,
        sig: &'static ComponentSig,
        i: usize,
        text: &'static str,
        file: FileId,
        span: Span,
    ) -> Val {
        let key = (sig.name, sig.params[i].name);
        let expr = self
            .defaults
            .entry(key)
            .or_insert_with(|| sam3c_lang::parse_expr(text).ok())
            .clone();
        let Some(mut expr) = expr else {
            // A catalog bug; the stdlib test `defaults_evaluate` catches it before release.
            return Val::error(file, span);
        };
        respan(&mut expr, span);
        let ty = Ty::from_desc(&sig.params[i].ty);
        self.eval(Scope { module: None, file }, &expr, &ty)
    }

    fn record(&mut self, scope: Scope, expr: &Expr, fields: &[Field], ty: &Ty) -> Val {
        let file = scope.file;
        match ty.base() {
            // A record where one component is expected gives its arguments: `stage s { ... }`, `{ pattern = ... }`.
            Ty::Component(name) => {
                let sig = components::lookup(name).expect("catalog component");
                let given: Vec<(Option<&Ident>, &Expr, Span)> = fields
                    .iter()
                    .map(|f| (Some(&f.name), &f.value, f.span))
                    .collect();
                let name_span = Span {
                    start: expr.span.start,
                    end: expr.span.start + 1,
                };
                self.instantiate(scope, sig, expr.span, name_span, &given)
            }
            Ty::Map(of) => {
                let of = (**of).clone();
                let vals = self.record_fields(scope, fields, |_| Some(of.clone()));
                Val::new(Value::Record(vals), file, expr.span)
            }
            Ty::Record(spec) => {
                let spec = spec.clone();
                let mut vals = self.record_fields(scope, fields, |n| {
                    spec.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone())
                });
                // Missing optional fields are `none`; missing required ones are errors.
                let mut missing = Vec::new();
                for (name, t) in &spec {
                    if vals.iter().any(|(k, _)| k == name) {
                        continue;
                    }
                    match t {
                        Ty::Optional(_) => {
                            vals.push((name.clone(), Val::new(Value::None, file, expr.span)))
                        }
                        _ => missing.push(format!("`{name}`")),
                    }
                }
                if !missing.is_empty() {
                    self.report(
                        Diagnostic::new(
                            Code::E0205,
                            format!("this record is missing {}", missing.join(", ")),
                        )
                        .primary(
                            file,
                            expr.span,
                            format!("expected {}", ty),
                        ),
                    );
                    return Val::error(file, expr.span);
                }
                Val::new(Value::Record(vals), file, expr.span)
            }
            Ty::Any => {
                let vals = self.record_fields(scope, fields, |_| Some(Ty::Any));
                Val::new(Value::Record(vals), file, expr.span)
            }
            _ => {
                let vals = self.record_fields(scope, fields, |_| Some(Ty::Any));
                let v = Val::new(Value::Record(vals), file, expr.span);
                self.conform(v, ty)
            }
        }
    }

    fn record_fields(
        &mut self,
        scope: Scope,
        fields: &[Field],
        ty_of: impl Fn(&str) -> Option<Ty>,
    ) -> Vec<(String, Val)> {
        let mut out: Vec<(String, Val)> = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for f in fields {
            if let Some(prev) = seen.get(f.name.name.as_str()) {
                self.report(
                    Diagnostic::new(Code::E0207, format!("`{}` is given twice", f.name.name))
                        .primary(scope.file, f.name.span, "given again here")
                        .secondary(scope.file, *prev, "first given here"),
                );
                continue;
            }
            seen.insert(&f.name.name, f.name.span);
            let Some(t) = ty_of(&f.name.name) else {
                self.report(
                    Diagnostic::new(Code::E0206, format!("unknown field `{}`", f.name.name))
                        .primary(scope.file, f.name.span, "not a field of this record"),
                );
                continue;
            };
            let v = self.eval(scope, &f.value, &t);
            out.push((f.name.name.clone(), v));
        }
        out
    }

    /// `base with { field = value }`.
    fn with(&mut self, scope: Scope, expr: &Expr, base: &Expr, fields: &[Field], ty: &Ty) -> Val {
        let file = scope.file;
        let b = self.eval(scope, base, ty);
        match &b.value {
            Value::Error => Val::error(file, expr.span),
            Value::Component(c) => {
                let mut new = (**c).clone();
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for f in fields {
                    let Some(i) = new.args.iter().position(|a| a.name == f.name.name) else {
                        let names: Vec<&str> = c.sig.params.iter().map(|p| p.name).collect();
                        let mut d = Diagnostic::new(
                            Code::E0206,
                            format!("`{}` has no parameter `{}`", c.sig.name, f.name.name),
                        )
                        .primary(file, f.name.span, "unknown parameter");
                        d = d.help(
                            match suggest::did_you_mean(&f.name.name, names.iter().copied()) {
                                Some(s) => s,
                                None => format!("its parameters are: {}", names.join(", ")),
                            },
                        );
                        if let Some(origin) = b.origin {
                            let decl = self.program.decl(origin);
                            d = d.secondary(
                                self.program.decl_file(origin),
                                decl.name_span(),
                                format!("`{}` is a `{}`", decl.name(), c.sig.name),
                            );
                        }
                        self.report(d);
                        continue;
                    };
                    if let Some(prev) = seen.insert(&f.name.name, f.name.span) {
                        self.report(
                            Diagnostic::new(
                                Code::E0207,
                                format!("`{}` is given twice", f.name.name),
                            )
                            .primary(file, f.name.span, "given again here")
                            .secondary(file, prev, "first given here"),
                        );
                        continue;
                    }
                    let p = &c.sig.params[i];
                    let v = self.eval(scope, &f.value, &Ty::from_desc(&p.ty));
                    if let Some(r) = p.range.and_then(NumRange::parse) {
                        self.check_range(&v, &r);
                    }
                    new.args[i] = ArgValue {
                        name: p.name,
                        val: v,
                        explicit: true,
                    };
                }
                Val::new(Value::Component(Rc::new(new)), file, expr.span)
            }
            Value::Record(items) => {
                let mut items = items.clone();
                for f in fields {
                    let v = self.eval(scope, &f.value, &Ty::Any);
                    match items.iter_mut().find(|(k, _)| *k == f.name.name) {
                        Some(slot) => slot.1 = v,
                        None => items.push((f.name.name.clone(), v)),
                    }
                }
                Val::new(Value::Record(items), file, expr.span)
            }
            other => {
                self.report(
                    Diagnostic::new(
                        Code::E0200,
                        format!(
                            "`with` needs a component or a record, found {}",
                            other.describe()
                        ),
                    )
                    .primary(file, base.span, "cannot change fields of this"),
                );
                Val::error(file, expr.span)
            }
        }
    }

    fn binary(&mut self, scope: Scope, span: Span, op: BinOp, lhs: &Expr, rhs: &Expr) -> Val {
        let file = scope.file;
        let l = self.eval(scope, lhs, &Ty::Any);
        let r = self.eval(scope, rhs, &Ty::Any);
        use Value::*;
        let value = match (&l.value, &r.value, op) {
            (Error, _, _) | (_, Error, _) => Error,
            (Path(a) | Str(a), Str(b) | Path(b), BinOp::Div) => Path(join_path(a, b)),
            (Str(a), Str(b), BinOp::Add) => Str(format!("{a}{b}")),
            (Int(a), Int(b), BinOp::Add) => Int(a + b),
            (Int(a), Int(b), BinOp::Sub) => Int(a - b),
            (Int(a), Int(b), BinOp::Mul) => Int(a * b),
            (Int(a), Int(b), BinOp::Div) if *b != 0 && a % b == 0 => Int(a / b),
            (Int(_) | Float(_), Int(_) | Float(_), _) => {
                let (a, b) = (l.value.as_number().unwrap(), r.value.as_number().unwrap());
                if op == BinOp::Div && b == 0.0 {
                    self.report(
                        Diagnostic::new(Code::E0204, "division by zero")
                            .primary(file, rhs.span, "is zero"),
                    );
                    Error
                } else {
                    Float(arith(op, a, b))
                }
            }
            (Quantity(a, u), Quantity(b, w), BinOp::Add | BinOp::Sub) if u == w => {
                Quantity(arith(op, *a, *b), *u)
            }
            (Quantity(a, u), Quantity(b, w), BinOp::Div) if u == w && *b != 0.0 => Float(a / b),
            (Quantity(a, u), Int(_) | Float(_), BinOp::Mul | BinOp::Div) => {
                let b = r.value.as_number().unwrap();
                if op == BinOp::Div && b == 0.0 {
                    self.report(
                        Diagnostic::new(Code::E0204, "division by zero")
                            .primary(file, rhs.span, "is zero"),
                    );
                    Error
                } else {
                    let q = arith(op, *a, b);
                    if u.integral() && q.fract() != 0.0 {
                        self.report(
                            Diagnostic::new(
                                Code::E0200,
                                format!("{} must be a whole number", u.name()),
                            )
                            .primary(
                                file,
                                span,
                                format!("gives {}", format_number(q)),
                            ),
                        );
                        Error
                    } else {
                        Quantity(q, *u)
                    }
                }
            }
            (Int(_) | Float(_), Quantity(b, u), BinOp::Mul) => {
                Quantity(l.value.as_number().unwrap() * b, *u)
            }
            (a, b, op) => {
                let mut d = Diagnostic::new(
                    Code::E0200,
                    format!(
                        "cannot apply `{}` to {} and {}",
                        op.symbol(),
                        a.describe(),
                        b.describe()
                    ),
                )
                .primary(file, span, "unsupported operation")
                .secondary(file, lhs.span, a.describe())
                .secondary(file, rhs.span, b.describe());
                if let (Quantity(_, u), Quantity(_, w)) = (a, b) {
                    if u != w {
                        d = d.help(format!("{} and {} are different units", u.name(), w.name()));
                    }
                }
                self.report(d);
                Error
            }
        };
        Val::new(value, file, span)
    }

    /// Every declaration of every module, evaluated (so that errors in unused ones are reported too).
    pub fn eval_all(&mut self) {
        for m in 0..self.program.modules.len() as u32 {
            let ids: Vec<DeclId> = self.program.decl_ids(ModuleId(m)).collect();
            for id in ids {
                self.decl_value(id);
            }
        }
    }
}

/// Whether a value fits a type (without conversions that lose information).
pub fn fits(v: &Value, ty: &Ty) -> bool {
    match (v, ty) {
        (Value::Error, _) | (_, Ty::Any) => true,
        (Value::None, Ty::Optional(_)) => true,
        (_, Ty::Optional(t)) | (_, Ty::Refined(t, _)) => fits(v, t),
        (_, Ty::Union(_, alts)) => alts.iter().any(|(_, t)| fits(v, t)),
        (Value::Bool(_), Ty::Bool) => true,
        (Value::Int(_), Ty::Int | Ty::Float) => true,
        (Value::Float(_), Ty::Float) => true,
        (Value::Str(_) | Value::Path(_), Ty::Str | Ty::Path) => true,
        (Value::Quantity(_, u), Ty::Quantity(w)) => u == w,
        (Value::List(items), Ty::List(of)) => items.iter().all(|i| fits(&i.value, of)),
        (Value::Record(items), Ty::Map(of)) => items.iter().all(|(_, i)| fits(&i.value, of)),
        (Value::Record(items), Ty::Record(fields)) => items
            .iter()
            .all(|(k, i)| fields.iter().any(|(n, t)| n == k && fits(&i.value, t))),
        (Value::Word(w), Ty::Enum(_, words)) => words.contains(w),
        (Value::Component(c), Ty::Component(n)) => c.sig.name == *n,
        (Value::Component(c), Ty::Kind(k, d)) => {
            c.sig.kind == *k
                && (*d == Domain::Any || c.sig.domain == Domain::Any || c.sig.domain == *d)
        }
        (Value::Stage(_), Ty::StageRef) => true,
        _ => false,
    }
}

/// Convert a value that fits `ty` into the exact form of `ty` (Int → Float, Str → Path).
fn coerce(v: Val, ty: &Ty) -> Val {
    let Val {
        value,
        file,
        span,
        origin,
    } = v;
    let value = match (value, ty.base()) {
        (Value::Int(i), Ty::Float) => Value::Float(i as f64),
        (Value::Str(s), Ty::Path) => Value::Path(s),
        (Value::Path(s), Ty::Str) => Value::Str(s),
        (Value::List(items), Ty::List(of)) => {
            Value::List(items.into_iter().map(|i| coerce(i, of)).collect())
        }
        (value, _) => value,
    };
    Val {
        value,
        file,
        span,
        origin,
    }
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
    }
}

fn join_path(a: &str, b: &str) -> String {
    if a.is_empty() {
        return b.to_string();
    }
    format!("{}/{}", a.trim_end_matches('/'), b.trim_start_matches('/'))
}

pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn unit_factor(unit: Option<&Ident>) -> f64 {
    unit.and_then(|u| UnitKind::from_suffix(&u.name))
        .map(|(_, f)| f)
        .unwrap_or(1.0)
}

fn range_help(r: &NumRange) -> String {
    match (r.lo, r.hi) {
        (Some(lo), Some(hi)) => format!(
            "use a value from {} to {}",
            format_number(lo),
            format_number(hi)
        ),
        (Some(lo), None) => format!("use a value of at least {}", format_number(lo)),
        (None, Some(hi)) => format!(
            "use a value {} {}",
            if r.inclusive { "of at most" } else { "below" },
            format_number(hi)
        ),
        (None, None) => String::new(),
    }
}

fn name_words(enum_name: &str) -> String {
    // `ModelSize` → "model size"
    let mut out = String::new();
    for (i, c) in enum_name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn collect_words(ty: &Ty, out: &mut Vec<String>) {
    match ty {
        Ty::Enum(_, words) => out.extend(words.iter().cloned()),
        Ty::Optional(t) | Ty::Refined(t, _) | Ty::List(t) => collect_words(t, out),
        Ty::Union(_, alts) => alts.iter().for_each(|(_, t)| collect_words(t, out)),
        _ => {}
    }
}

/// Point every span of a catalog default at the place the component was written.
fn respan(e: &mut Expr, span: Span) {
    e.span = span;
    match &mut e.kind {
        ExprKind::Field { base, field } => {
            respan(base, span);
            field.span = span;
        }
        ExprKind::Call { callee, args, .. } => {
            respan(callee, span);
            for a in args {
                a.span = span;
                if let Some(n) = &mut a.name {
                    n.span = span;
                }
                respan(&mut a.value, span);
            }
        }
        ExprKind::List(items) => items.iter_mut().for_each(|i| respan(i, span)),
        ExprKind::Record(fields) | ExprKind::With { fields, .. } => {
            for f in fields.iter_mut() {
                f.span = span;
                f.name.span = span;
                respan(&mut f.value, span);
            }
            if let ExprKind::With { base, .. } = &mut e.kind {
                respan(base, span);
            }
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            respan(lhs, span);
            respan(rhs, span);
        }
        ExprKind::Neg(inner) | ExprKind::Paren(inner) => respan(inner, span),
        ExprKind::Name(i) => i.span = span,
        ExprKind::Number(n) => {
            if let Some(u) = &mut n.unit {
                u.span = span;
            }
        }
        ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::None => {}
    }
}

impl Checker<'_> {
    /// Where a value that came through a parameter was written: the `--set` override, or the parameter's
    /// declaration. For a secondary label, so that the user sees both the use and the source.
    pub fn param_source(&self, v: &Val) -> Option<(FileId, Span, String)> {
        let origin = v.origin?;
        let decl = self.program.decl(origin);
        if decl.kind != DeclKind::Param {
            return None;
        }
        if origin.module == self.program.root() {
            if let Some(o) = self.overrides.get(decl.name()) {
                return Some((
                    o.file,
                    o.expr.span,
                    format!("`{}` is set here", decl.name()),
                ));
            }
        }
        Some((
            self.program.decl_file(origin),
            decl.ast.value.span,
            format!("`{}` is declared here", decl.name()),
        ))
    }

    /// The evaluated declarations (consumes the checker).
    pub fn into_values(self) -> HashMap<DeclId, Val> {
        self.values
    }
}
