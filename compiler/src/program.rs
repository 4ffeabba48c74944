//! Loading a spec and its imports into modules, and the declaration tables of each module.

use crate::db::{normalize, FileId, Files, SourceDb};
use crate::diag::{Code, Diagnostic};
use crate::suggest;
use sam3c_lang::ast::{self, Ident, Item, Span};
use sam3c_lang::SyntaxErrorKind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ModuleId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct DeclId {
    pub module: ModuleId,
    pub index: u32,
}

/// The declaration keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclKind {
    Param,
    Let,
    Dataset,
    Pipeline,
    Model,
    Loss,
    Matcher,
    Optimizer,
    Schedule,
    Meter,
    Stage,
    Evaluation,
    Experiment,
    Resources,
}

impl DeclKind {
    pub const ALL: [(&'static str, DeclKind); 14] = [
        ("param", DeclKind::Param),
        ("let", DeclKind::Let),
        ("dataset", DeclKind::Dataset),
        ("pipeline", DeclKind::Pipeline),
        ("model", DeclKind::Model),
        ("loss", DeclKind::Loss),
        ("matcher", DeclKind::Matcher),
        ("optimizer", DeclKind::Optimizer),
        ("schedule", DeclKind::Schedule),
        ("meter", DeclKind::Meter),
        ("stage", DeclKind::Stage),
        ("evaluation", DeclKind::Evaluation),
        ("experiment", DeclKind::Experiment),
        ("resources", DeclKind::Resources),
    ];

    pub fn parse(s: &str) -> Option<DeclKind> {
        DeclKind::ALL.iter().find(|(n, _)| *n == s).map(|(_, k)| *k)
    }

    pub fn keyword(self) -> &'static str {
        DeclKind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap()
    }

    /// Declared once per spec, without a name.
    pub fn is_singleton(self) -> bool {
        matches!(self, DeclKind::Experiment | DeclKind::Resources)
    }
}

#[derive(Debug, Clone)]
pub struct DeclInfo {
    pub kind: DeclKind,
    pub name: Option<Ident>,
    pub ast: ast::Decl,
}

impl DeclInfo {
    pub fn name(&self) -> &str {
        self.name
            .as_ref()
            .map(|n| n.name.as_str())
            .unwrap_or(self.kind.keyword())
    }

    /// The span that names the declaration (its name, or its keyword for singletons).
    pub fn name_span(&self) -> Span {
        self.name
            .as_ref()
            .map(|n| n.span)
            .unwrap_or(self.ast.kind.span)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Decl(DeclId),
    Module(ModuleId),
}

#[derive(Debug, Clone)]
pub struct Module {
    pub file: FileId,
    pub ast: ast::SourceFile,
    pub decls: Vec<DeclInfo>,
    pub bindings: HashMap<String, Binding>,
    /// Singletons (`experiment`, `resources`) by kind.
    pub singletons: HashMap<&'static str, DeclId>,
}

#[derive(Debug, Clone, Default)]
pub struct Program {
    pub files: Files,
    pub modules: Vec<Module>,
}

impl Program {
    pub fn module(&self, id: ModuleId) -> &Module {
        &self.modules[id.0 as usize]
    }

    pub fn decl(&self, id: DeclId) -> &DeclInfo {
        &self.module(id.module).decls[id.index as usize]
    }

    pub fn decl_file(&self, id: DeclId) -> FileId {
        self.module(id.module).file
    }

    pub fn root(&self) -> ModuleId {
        ModuleId(0)
    }

    /// Every declaration of a module, in source order.
    pub fn decl_ids(&self, m: ModuleId) -> impl Iterator<Item = DeclId> + '_ {
        (0..self.module(m).decls.len() as u32).map(move |index| DeclId { module: m, index })
    }
}

/// Presets shipped with sam3c, importable as `import "std/NAME.sam3x"`.
pub const STD_PRESETS: &[(&str, &str)] = &[(
    "std/sam3.sam3x",
    include_str!("../../stdlib/presets/sam3.sam3x"),
)];

struct Loader<'a> {
    db: &'a dyn SourceDb,
    program: Program,
    by_path: HashMap<PathBuf, ModuleId>,
    stack: Vec<PathBuf>,
    diags: &'a mut Vec<Diagnostic>,
}

/// Load the root file and everything it imports. The root text may be given (an editor buffer); otherwise it
/// is read through `db`.
pub fn load(
    db: &dyn SourceDb,
    root: &Path,
    root_text: Option<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Program> {
    let mut loader = Loader {
        db,
        program: Program::default(),
        by_path: HashMap::new(),
        stack: Vec::new(),
        diags,
    };
    let text = match root_text {
        Some(t) => t,
        None => match db.read_text(root) {
            Ok(t) => t,
            Err(e) => {
                // Nothing to point at: the CLI reports this one as a usage error.
                loader.diags.push(Diagnostic::new(
                    Code::E0010,
                    format!("cannot read `{}`: {e}", root.display()),
                ));
                return None;
            }
        },
    };
    loader.load_text(normalize(root), text);
    Some(loader.program)
}

impl Loader<'_> {
    fn load_text(&mut self, path: PathBuf, text: String) -> ModuleId {
        let file = self.program.files.add(path.clone(), text);
        let parsed = sam3c_lang::parse(&self.program.files.get(file).text);
        for e in &parsed.errors {
            let code = match e.kind {
                SyntaxErrorKind::Unexpected => Code::E0001,
                SyntaxErrorKind::UnclosedDelimiter | SyntaxErrorKind::UnmatchedDelimiter => {
                    Code::E0002
                }
                SyntaxErrorKind::UnterminatedString => Code::E0003,
            };
            let mut d = Diagnostic::new(code, e.message.clone()).primary(file, e.span, "");
            if let Some((span, msg)) = &e.related {
                d = d.secondary(file, *span, msg.clone());
            }
            if let Some(h) = &e.help {
                d = d.help(h.clone());
            }
            self.diags.push(d);
        }
        let id = ModuleId(self.program.modules.len() as u32);
        self.program.modules.push(Module {
            file,
            ast: parsed.clone(),
            decls: Vec::new(),
            bindings: HashMap::new(),
            singletons: HashMap::new(),
        });
        self.by_path.insert(path.clone(), id);
        self.stack.push(path.clone());
        // Spans of bindings, to report duplicates with both places.
        let mut first_span: HashMap<String, Span> = HashMap::new();
        for item in &parsed.items {
            match item {
                Item::Import(imp) => self.import(id, file, &path, imp, &mut first_span),
                Item::Decl(d) => self.decl(id, file, d, &mut first_span),
            }
        }
        self.stack.pop();
        id
    }

    fn import(
        &mut self,
        module: ModuleId,
        file: FileId,
        importer: &Path,
        imp: &ast::Import,
        first_span: &mut HashMap<String, Span>,
    ) {
        let Some(rel) = imp.path.as_plain() else {
            self.diags.push(
                Diagnostic::new(Code::E0010, "an import path cannot use `${...}`").primary(
                    file,
                    imp.path.span,
                    "write the path literally",
                ),
            );
            return;
        };
        let (path, text) = if let Some((p, t)) = STD_PRESETS.iter().find(|(p, _)| *p == rel) {
            (PathBuf::from(p), Ok(t.to_string()))
        } else {
            let base = importer.parent().unwrap_or(Path::new(""));
            let p = normalize(&base.join(&rel));
            let t = if self.by_path.contains_key(&p) {
                Ok(String::new())
            } else {
                self.db.read_text(&p)
            };
            (p, t)
        };
        let alias = match &imp.alias {
            Some(a) => a.clone(),
            None => Ident {
                name: Path::new(&rel)
                    .file_stem()
                    .map(|s| s.to_string_lossy().replace(['-', '.'], "_"))
                    .unwrap_or_default(),
                span: imp.path.span,
            },
        };
        if self.stack.contains(&path) {
            let mut chain: Vec<String> = self
                .stack
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect();
            chain.push(format!("`{}`", path.display()));
            self.diags.push(
                Diagnostic::new(
                    Code::E0011,
                    format!("`{}` imports itself through other files", path.display()),
                )
                .primary(file, imp.span, "this import closes the cycle")
                .note(format!("import chain: {}", chain.join(" → "))),
            );
            return;
        }
        let target = match self.by_path.get(&path) {
            Some(&m) => m,
            None => match text {
                Ok(t) => self.load_text(path.clone(), t),
                Err(e) => {
                    let mut d = Diagnostic::new(Code::E0010, format!("cannot import `{rel}`: {e}"))
                        .primary(
                            file,
                            imp.path.span,
                            format!("looked for `{}`", path.display()),
                        );
                    if rel.starts_with("std/") {
                        let names: Vec<&str> = STD_PRESETS.iter().map(|(p, _)| *p).collect();
                        d = d.help(match suggest::best(&rel, names.iter().copied()) {
                            Some(b) => format!("did you mean `{b}`?"),
                            None => format!("the standard presets are: {}", names.join(", ")),
                        });
                    } else {
                        d = d.help("import paths are relative to the importing file");
                    }
                    self.diags.push(d);
                    return;
                }
            },
        };
        self.bind(module, file, alias, Binding::Module(target), first_span);
    }

    fn decl(
        &mut self,
        module: ModuleId,
        file: FileId,
        d: &ast::Decl,
        first_span: &mut HashMap<String, Span>,
    ) {
        let Some(kind) = DeclKind::parse(&d.kind.name) else {
            let names = DeclKind::ALL.iter().map(|(n, _)| *n);
            let mut diag = Diagnostic::new(
                Code::E0101,
                format!("`{}` is not a kind of declaration", d.kind.name),
            )
            .primary(file, d.kind.span, "unknown declaration kind");
            diag = diag.help(match suggest::did_you_mean(&d.kind.name, names) {
                Some(s) => s,
                None => format!(
                    "declarations start with one of: {}",
                    DeclKind::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            self.diags.push(diag);
            return;
        };
        let m = &mut self.program.modules[module.0 as usize];
        let id = DeclId {
            module,
            index: m.decls.len() as u32,
        };
        if kind.is_singleton() {
            if let Some(name) = &d.name {
                self.diags.push(
                    Diagnostic::new(Code::E0106, format!("`{}` takes no name", kind.keyword()))
                        .primary(file, name.span, "remove this name")
                        .help(format!("write `{} {{ ... }}`", kind.keyword())),
                );
            }
            if let Some(prev) = m.singletons.get(kind.keyword()) {
                let prev_span = m.decls[prev.index as usize].ast.kind.span;
                self.diags.push(
                    Diagnostic::new(
                        Code::E0102,
                        format!("`{}` is declared twice", kind.keyword()),
                    )
                    .primary(file, d.kind.span, "declared again here")
                    .secondary(file, prev_span, "first declared here")
                    .help("merge the two blocks into one"),
                );
                return;
            }
            m.singletons.insert(kind.keyword(), id);
            m.decls.push(DeclInfo {
                kind,
                name: None,
                ast: d.clone(),
            });
            return;
        }
        let Some(name) = d.name.clone() else {
            self.diags.push(
                Diagnostic::new(Code::E0106, format!("this {} has no name", kind.keyword()))
                    .primary(file, d.kind.span, "a name must follow")
                    .help(format!("write `{} NAME = ...`", kind.keyword())),
            );
            return;
        };
        let m = &mut self.program.modules[module.0 as usize];
        m.decls.push(DeclInfo {
            kind,
            name: Some(name.clone()),
            ast: d.clone(),
        });
        self.bind(module, file, name, Binding::Decl(id), first_span);
    }

    fn bind(
        &mut self,
        module: ModuleId,
        file: FileId,
        name: Ident,
        binding: Binding,
        first_span: &mut HashMap<String, Span>,
    ) {
        if let Some(prev) = first_span.get(&name.name) {
            self.diags.push(
                Diagnostic::new(Code::E0102, format!("`{}` is defined twice", name.name))
                    .primary(file, name.span, "defined again here")
                    .secondary(file, *prev, "first defined here")
                    .help("rename one of them; every name in a file is unique"),
            );
            return;
        }
        first_span.insert(name.name.clone(), name.span);
        self.program.modules[module.0 as usize]
            .bindings
            .insert(name.name, binding);
    }
}
