//! Lowering a checked spec to its execution graph: what runs, in which order, on which artifacts.
//!
//! Nodes load datasets, build pipelines and models, load checkpoints, initialize models, train stages, save
//! checkpoints and evaluate; edges carry typed artifacts. Every node keeps the span of the declaration it comes
//! from and a content hash computed from its parameters and its inputs' hashes, so that a node whose hash did not
//! change produced the same artifact (the basis of caching). `validate` checks the graph's own invariants:
//! acyclic, every input produced upstream, artifact types match, one writer per file.

use crate::checks::{StageInfo, StageKind};
use crate::config::value_json;
use crate::db::FileId;
use crate::diag::{Code, Diagnostic};
use crate::spec::CheckedSpec;
use crate::types::Ty;
use crate::value::{Val, Value};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use sam3c_lang::ast::Span;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    LoadDataset,
    BuildPipeline,
    BuildModel,
    LoadCheckpoint,
    InitModel,
    TrainStage,
    SaveCheckpoint,
    Evaluate,
}

impl NodeKind {
    pub fn label(self) -> &'static str {
        match self {
            NodeKind::LoadDataset => "load dataset",
            NodeKind::BuildPipeline => "build pipeline",
            NodeKind::BuildModel => "build model",
            NodeKind::LoadCheckpoint => "load checkpoint",
            NodeKind::InitModel => "initialize model",
            NodeKind::TrainStage => "train stage",
            NodeKind::SaveCheckpoint => "save checkpoint",
            NodeKind::Evaluate => "evaluate",
        }
    }

    /// The artifact this kind of node produces.
    pub fn output(self) -> Artifact {
        match self {
            NodeKind::LoadDataset => Artifact::Dataset,
            NodeKind::BuildPipeline => Artifact::Pipeline,
            NodeKind::BuildModel | NodeKind::InitModel => Artifact::Model,
            NodeKind::LoadCheckpoint | NodeKind::TrainStage => Artifact::Weights,
            NodeKind::SaveCheckpoint => Artifact::File,
            NodeKind::Evaluate => Artifact::Metrics,
        }
    }

    /// The artifacts this kind of node needs: (artifact, how many: `None` = any number).
    pub fn inputs(self) -> &'static [(Artifact, Option<usize>)] {
        match self {
            NodeKind::LoadDataset | NodeKind::BuildPipeline | NodeKind::BuildModel => &[],
            NodeKind::LoadCheckpoint => &[(Artifact::File, None)],
            NodeKind::InitModel => &[(Artifact::Model, Some(1)), (Artifact::Weights, None)],
            NodeKind::TrainStage => &[
                (Artifact::Model, Some(1)),
                (Artifact::Dataset, None),
                (Artifact::Pipeline, None),
            ],
            NodeKind::SaveCheckpoint => &[(Artifact::Weights, Some(1))],
            NodeKind::Evaluate => &[
                (Artifact::Model, Some(1)),
                (Artifact::Dataset, None),
                (Artifact::Pipeline, None),
            ],
        }
    }
}

/// What flows along an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Artifact {
    Dataset,
    Pipeline,
    /// A model: an architecture, with or without weights loaded.
    Model,
    Weights,
    Metrics,
    /// A file on disk (a checkpoint written by one node and read by another).
    File,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub kind: NodeKind,
    /// A readable name: the declaration (`parts`, `spatial`) or the file.
    pub name: String,
    #[serde(skip)]
    pub file: FileId,
    #[serde(skip)]
    pub span: Span,
    /// The node's configuration (the runtime's serde form of the component, or the path).
    pub params: serde_json::Value,
    /// Content hash (hex) of the kind, the parameters and the inputs' hashes.
    pub hash: String,
    /// The file this node writes, if any.
    pub writes: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub artifact: Artifact,
    /// The role of the input (`data`, `pipeline`, `eval data`, `init`, `pretrained`).
    pub role: String,
}

#[derive(Debug, Default)]
pub struct ExecGraph {
    pub graph: DiGraph<Node, Edge>,
}

impl ExecGraph {
    /// The nodes in an order where every node comes after its inputs (stable: insertion order among equals).
    pub fn order(&self) -> Vec<NodeIndex> {
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.edges_directed(n, petgraph::Incoming).count())
            .collect();
        let mut done = vec![false; indegree.len()];
        let mut out = Vec::new();
        while let Some(n) = (0..indegree.len()).find(|&i| !done[i] && indegree[i] == 0) {
            done[n] = true;
            out.push(NodeIndex::new(n));
            for e in self.graph.edges(NodeIndex::new(n)) {
                indegree[e.target().index()] -= 1;
            }
        }
        out
    }

    pub fn inputs(&self, n: NodeIndex) -> Vec<(NodeIndex, &Edge)> {
        let mut v: Vec<(NodeIndex, &Edge)> = self
            .graph
            .edges_directed(n, petgraph::Incoming)
            .map(|e| (e.source(), e.weight()))
            .collect();
        v.sort_by_key(|(s, _)| s.index());
        v
    }

    /// The stage or evaluation a node was lowered from, for the runtime (`train stage` / `evaluate` nodes).
    pub fn find(&self, kind: NodeKind, name: &str) -> Option<NodeIndex> {
        self.graph
            .node_indices()
            .find(|&n| self.graph[n].kind == kind && self.graph[n].name == name)
    }

    /// One line per node, in execution order: `[hash] kind name <- inputs -> file`. (A cyclic graph, which
    /// `validate` rejects, prints the nodes it can order.)
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for n in self.order() {
            let node = &self.graph[n];
            let _ = write!(
                out,
                "[{}] {} {}",
                short(&node.hash),
                node.kind.label(),
                node.name
            );
            let ins: Vec<String> = self
                .inputs(n)
                .iter()
                .map(|(s, e)| {
                    format!(
                        "{} {} ({})",
                        e.role,
                        self.graph[*s].name,
                        short(&self.graph[*s].hash)
                    )
                })
                .collect();
            if !ins.is_empty() {
                let _ = write!(out, "\n    <- {}", ins.join("\n    <- "));
            }
            if let Some(w) = &node.writes {
                let _ = write!(out, "\n    -> {w}");
            }
            out.push('\n');
        }
        out
    }

    /// Graphviz DOT: one box per node, edges labelled with their artifact.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph sam3c {\n    rankdir=LR;\n    node [shape=box, fontname=\"Helvetica\"];\n",
        );
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            let shape = match node.kind {
                NodeKind::TrainStage | NodeKind::Evaluate => ", style=bold",
                NodeKind::SaveCheckpoint | NodeKind::LoadCheckpoint => ", shape=note",
                _ => "",
            };
            let _ = writeln!(
                out,
                "    n{} [label=\"{}\\n{}\"{shape}];",
                n.index(),
                node.kind.label(),
                escape(&node.name)
            );
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).unwrap();
            let w = &self.graph[e];
            let _ = writeln!(
                out,
                "    n{} -> n{} [label=\"{}\"];",
                a.index(),
                b.index(),
                escape(&w.role)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The graph as JSON: nodes (with their source positions) and edges.
    pub fn to_json(&self, spec: &CheckedSpec) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .graph
            .node_indices()
            .map(|n| {
                let node = &self.graph[n];
                let f = spec.program.files.get(node.file);
                let (line, column) = f.line_col(node.span.start as usize);
                serde_json::json!({
                    "id": n.index(),
                    "kind": node.kind,
                    "name": node.name,
                    "hash": node.hash,
                    "params": node.params,
                    "writes": node.writes,
                    "source": { "file": f.path.display().to_string(), "line": line, "column": column },
                })
            })
            .collect();
        let edges: Vec<serde_json::Value> = self
            .graph
            .edge_indices()
            .map(|e| {
                let (a, b) = self.graph.edge_endpoints(e).unwrap();
                serde_json::json!({ "from": a.index(), "to": b.index(), "artifact": self.graph[e].artifact, "role": self.graph[e].role })
            })
            .collect();
        let order: Vec<usize> = self.order().iter().map(|n| n.index()).collect();
        serde_json::json!({ "nodes": nodes, "edges": edges, "order": order })
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(10)]
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn hash_of(kind: NodeKind, params: &serde_json::Value, inputs: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(format!("{kind:?}").as_bytes());
    h.update(params.to_string().as_bytes());
    for i in inputs {
        h.update(i.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds the graph, sharing nodes with identical content (two stages on one dataset load it once).
struct Lowering<'a> {
    spec: &'a CheckedSpec,
    g: ExecGraph,
    /// Node identity: kind, parameters and inputs.
    by_key: HashMap<String, NodeIndex>,
    /// The `save checkpoint` node of each stage.
    saved: HashMap<String, NodeIndex>,
}

impl Lowering<'_> {
    fn node(
        &mut self,
        kind: NodeKind,
        name: String,
        at: (FileId, Span),
        params: serde_json::Value,
        inputs: Vec<(NodeIndex, Artifact, &str)>,
        writes: Option<String>,
    ) -> NodeIndex {
        let key = format!(
            "{kind:?}|{params}|{:?}|{writes:?}",
            inputs
                .iter()
                .map(|(n, _, r)| (n.index(), *r))
                .collect::<Vec<_>>()
        );
        if let Some(&n) = self.by_key.get(&key) {
            // The same content under another declaration's name: one node, both names.
            let node = &mut self.g.graph[n];
            if !node.name.split(", ").any(|x| x == name) {
                node.name = format!("{}, {name}", node.name);
            }
            return n;
        }
        let n = self.g.graph.add_node(Node {
            kind,
            name,
            file: at.0,
            span: at.1,
            params,
            hash: String::new(),
            writes,
        });
        let mut seen = Vec::new();
        for (src, artifact, role) in inputs {
            if !seen.contains(&(src, role)) {
                seen.push((src, role));
                self.g.graph.add_edge(
                    src,
                    n,
                    Edge {
                        artifact,
                        role: role.to_string(),
                    },
                );
            }
        }
        self.by_key.insert(key, n);
        n
    }

    fn name_of(&self, v: &Val, fallback: &str) -> String {
        v.origin
            .map(|o| self.spec.decl_path(o))
            .unwrap_or_else(|| fallback.to_string())
    }

    fn json(&self, v: &Val, ty: Ty) -> serde_json::Value {
        value_json(v, &ty, Some(&self.spec.program))
    }

    fn dataset(&mut self, v: &Val) -> NodeIndex {
        let name = self.name_of(v, v.component().map(|c| c.name()).unwrap_or("dataset"));
        let params = self.json(v, Ty::from_desc(&<sam3c_stdlib::components::data::DatasetSpec as sam3c_stdlib::catalog::DslType>::desc()));
        self.node(
            NodeKind::LoadDataset,
            name,
            (v.file, v.span),
            params,
            vec![],
            None,
        )
    }

    fn pipeline(&mut self, v: &Val) -> NodeIndex {
        let name = self.name_of(v, "pipeline");
        let ty = Ty::List(Box::new(Ty::from_desc(&<sam3c_stdlib::components::transforms::TransformSpec as sam3c_stdlib::catalog::DslType>::desc())));
        let params = self.json(v, ty);
        self.node(
            NodeKind::BuildPipeline,
            name,
            (v.file, v.span),
            params,
            vec![],
            None,
        )
    }

    /// A checkpoint file to read. When a stage of this spec writes that file, `link_files` makes it an input.
    fn load_checkpoint(&mut self, path: &str, at: (FileId, Span)) -> NodeIndex {
        self.node(
            NodeKind::LoadCheckpoint,
            path.to_string(),
            at,
            serde_json::json!({ "path": path }),
            vec![],
            None,
        )
    }

    /// Readers of a file depend on its writer, wherever it is in the spec (a later stage's checkpoint read by an
    /// earlier one makes a cycle, which `validate` reports).
    fn link_files(&mut self) {
        let readers: Vec<(NodeIndex, String)> = self
            .g
            .graph
            .node_indices()
            .filter(|&n| self.g.graph[n].kind == NodeKind::LoadCheckpoint)
            .map(|n| (n, self.g.graph[n].name.clone()))
            .collect();
        for (reader, path) in readers {
            let writer = self.g.graph.node_indices().find(|&w| {
                self.g.graph[w].kind == NodeKind::SaveCheckpoint
                    && self.g.graph[w].writes.as_deref() == Some(path.as_str())
            });
            if let Some(w) = writer {
                self.g.graph.add_edge(
                    w,
                    reader,
                    Edge {
                        artifact: Artifact::File,
                        role: "file".into(),
                    },
                );
            }
        }
    }

    /// Content hashes, in execution order: a node's hash covers its kind, parameters and its inputs' hashes.
    fn hash_all(&mut self) {
        let Ok(order) = petgraph::algo::toposort(&self.g.graph, None) else {
            return;
        };
        for n in order {
            let mut inputs: Vec<String> = self
                .g
                .graph
                .edges_directed(n, petgraph::Incoming)
                .map(|e| format!("{}:{}", e.weight().role, self.g.graph[e.source()].hash))
                .collect();
            inputs.sort();
            let node = &self.g.graph[n];
            let h = hash_of(node.kind, &node.params, &inputs);
            self.g.graph[n].hash = h;
        }
    }

    /// The model of a stage with its weights: built, then initialized from its pretrained weights and from `init`.
    fn model(&mut self, s: &StageInfo) -> Option<NodeIndex> {
        let model = s.value.get("model")?.clone();
        let mc = model.component()?.clone();
        let ty = Ty::from_desc(
            &<sam3c_stdlib::components::model::ModelSpec as sam3c_stdlib::catalog::DslType>::desc(),
        );
        let mut arch = self.json(&model, ty);
        // The architecture without its weights: the weights are an input of `initialize model`.
        if let Some(obj) = arch
            .as_object_mut()
            .and_then(|o| o.values_mut().next())
            .and_then(|v| v.as_object_mut())
        {
            obj.remove("weights");
        }
        let name = self.name_of(&model, mc.name());
        let built = self.node(
            NodeKind::BuildModel,
            name.clone(),
            (model.file, model.span),
            arch,
            vec![],
            None,
        );
        let mut inputs = vec![(built, Artifact::Model, "architecture")];
        if let Some(Value::Path(p)) = mc.get("weights").map(|w| &w.value) {
            let w = mc.get("weights").unwrap();
            let ck = self.load_checkpoint(p, (w.file, w.span));
            inputs.push((ck, Artifact::Weights, "pretrained"));
        }
        if let Some(init) = s.value.get("init") {
            match &init.value {
                Value::Stage(d) => {
                    let from = self.spec.program.decl(*d).name();
                    let path = format!(
                        "{}/{from}/checkpoints/final.safetensors",
                        self.spec.out_dir.trim_end_matches('/')
                    );
                    let ck = self.load_checkpoint(&path, (init.file, init.span));
                    inputs.push((ck, Artifact::Weights, "init"));
                }
                Value::Path(p) => {
                    let ck = self.load_checkpoint(p, (init.file, init.span));
                    inputs.push((ck, Artifact::Weights, "init"));
                }
                _ => {}
            }
        }
        if inputs.len() == 1 {
            return Some(built);
        }
        Some(self.node(
            NodeKind::InitModel,
            name,
            (model.file, model.span),
            serde_json::json!({}),
            inputs,
            None,
        ))
    }

    fn stage(&mut self, s: &StageInfo) {
        let file = self.spec.program.decl_file(s.decl);
        let span = self.spec.program.decl(s.decl).name_span();
        let Some(model) = self.model(s) else { return };
        let mut inputs = vec![(model, Artifact::Model, "model")];
        if let Some(d) = s.value.get("data").cloned() {
            let n = self.dataset(&d);
            inputs.push((n, Artifact::Dataset, "data"));
        }
        if let Some(p) = s.value.get("pipeline").cloned() {
            let n = self.pipeline(&p);
            inputs.push((n, Artifact::Pipeline, "pipeline"));
        }
        for m in s.value.list("eval").to_vec() {
            let Some(mc) = m.component() else { continue };
            if let Some(d) = mc.get("data").cloned() {
                let n = self.dataset(&d);
                inputs.push((n, Artifact::Dataset, "eval data"));
            }
            if let Some(p) = mc.get("pipeline").cloned() {
                let n = self.pipeline(&p);
                inputs.push((n, Artifact::Pipeline, "eval pipeline"));
            }
        }
        let params = self.spec.stage_config(s);
        let out = format!("{}/{}", self.spec.out_dir.trim_end_matches('/'), s.name);
        match s.kind {
            StageKind::Train => {
                let trained = self.node(
                    NodeKind::TrainStage,
                    s.name.clone(),
                    (file, span),
                    params,
                    inputs,
                    Some(format!("{out}/checkpoints/latest.safetensors")),
                );
                if s.value.bool("save") != Some(false) {
                    let path = format!("{out}/checkpoints/final.safetensors");
                    let saved = self.node(
                        NodeKind::SaveCheckpoint,
                        s.name.clone(),
                        (file, span),
                        serde_json::json!({ "path": path }),
                        vec![(trained, Artifact::Weights, "weights")],
                        Some(path),
                    );
                    self.saved.insert(s.name.clone(), saved);
                }
            }
            StageKind::Evaluate => {
                self.node(
                    NodeKind::Evaluate,
                    s.name.clone(),
                    (file, span),
                    params,
                    inputs,
                    Some(format!("{out}/metrics.json")),
                );
            }
        }
    }
}

/// Lower a checked spec (without errors) to its execution graph.
pub fn lower(spec: &CheckedSpec) -> ExecGraph {
    let mut l = Lowering {
        spec,
        g: ExecGraph::default(),
        by_key: HashMap::new(),
        saved: HashMap::new(),
    };
    for s in &spec.stages {
        l.stage(s);
    }
    l.link_files();
    l.hash_all();
    l.g
}

/// The graph's own invariants. Lowering a checked spec satisfies them; a violation is a compiler bug or a spec
/// that reads a file another stage writes in a cycle, and is reported with the spans of the nodes involved.
pub fn validate(g: &ExecGraph) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let at = |n: NodeIndex| (g.graph[n].file, g.graph[n].span);
    if let Err(cycle) = petgraph::algo::toposort(&g.graph, None) {
        let n = cycle.node_id();
        let (f, s) = at(n);
        diags.push(
            Diagnostic::new(
                Code::E0700,
                format!(
                    "the execution graph has a cycle through `{}`",
                    g.graph[n].name
                ),
            )
            .primary(
                f,
                s,
                format!("{} depends on its own output", g.graph[n].kind.label()),
            )
            .help("a stage reads a checkpoint that it (or a stage after it) writes"),
        );
    }
    for n in g.graph.node_indices() {
        let node = &g.graph[n];
        let (f, s) = at(n);
        let mut counts: BTreeMap<Artifact, usize> = BTreeMap::new();
        for e in g.graph.edges_directed(n, petgraph::Incoming) {
            let src = &g.graph[e.source()];
            if src.kind.output() != e.weight().artifact {
                diags.push(
                    Diagnostic::new(
                        Code::E0702,
                        format!(
                            "`{}` expects {:?} from `{}`, which produces {:?}",
                            node.name,
                            e.weight().artifact,
                            src.name,
                            src.kind.output()
                        ),
                    )
                    .primary(
                        f,
                        s,
                        format!("{} input `{}`", node.kind.label(), e.weight().role),
                    )
                    .secondary(
                        src.file,
                        src.span,
                        format!("produces {:?}", src.kind.output()),
                    ),
                );
            }
            if !node
                .kind
                .inputs()
                .iter()
                .any(|(a, _)| *a == e.weight().artifact)
            {
                diags.push(
                    Diagnostic::new(
                        Code::E0702,
                        format!(
                            "{} `{}` takes no {:?} input",
                            node.kind.label(),
                            node.name,
                            e.weight().artifact
                        ),
                    )
                    .primary(f, s, "unexpected input"),
                );
            }
            *counts.entry(e.weight().artifact).or_default() += 1;
        }
        for (artifact, exactly) in node.kind.inputs() {
            if let Some(k) = exactly {
                let have = counts.get(artifact).copied().unwrap_or(0);
                if have != *k {
                    diags.push(
                        Diagnostic::new(
                            Code::E0701,
                            format!(
                                "{} `{}` needs {k} {:?} input, and {have} {} produced upstream",
                                node.kind.label(),
                                node.name,
                                artifact,
                                if have == 1 { "is" } else { "are" }
                            ),
                        )
                        .primary(f, s, "missing input"),
                    );
                }
            }
        }
    }
    let mut writers: BTreeMap<&str, Vec<NodeIndex>> = BTreeMap::new();
    for n in g.graph.node_indices() {
        if let Some(w) = &g.graph[n].writes {
            writers.entry(w.as_str()).or_default().push(n);
        }
    }
    for (path, ns) in writers {
        if ns.len() > 1 {
            let (f, s) = at(ns[1]);
            let (f0, s0) = at(ns[0]);
            diags.push(
                Diagnostic::new(Code::E0703, format!("`{path}` is written by two nodes"))
                    .primary(f, s, format!("{} `{}` writes it", g.graph[ns[1]].kind.label(), g.graph[ns[1]].name))
                    .secondary(f0, s0, format!("{} `{}` writes it too", g.graph[ns[0]].kind.label(), g.graph[ns[0]].name))
                    .help("give the stages different names, or the experiments different `out` directories"),
            );
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(g: &mut ExecGraph, kind: NodeKind, name: &str, writes: Option<&str>) -> NodeIndex {
        g.graph.add_node(Node {
            kind,
            name: name.into(),
            file: FileId(0),
            span: Span::default(),
            params: serde_json::json!({}),
            hash: "0".repeat(64),
            writes: writes.map(String::from),
        })
    }

    fn codes(g: &ExecGraph) -> Vec<&'static str> {
        validate(g).iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn a_train_stage_without_its_model_is_missing_an_input() {
        let mut g = ExecGraph::default();
        let d = node(&mut g, NodeKind::LoadDataset, "parts", None);
        let t = node(&mut g, NodeKind::TrainStage, "spatial", None);
        g.graph.add_edge(
            d,
            t,
            Edge {
                artifact: Artifact::Dataset,
                role: "data".into(),
            },
        );
        assert_eq!(codes(&g), ["E0701"]);
    }

    #[test]
    fn an_edge_must_carry_what_its_source_produces() {
        let mut g = ExecGraph::default();
        let m = node(&mut g, NodeKind::BuildModel, "m", None);
        let d = node(&mut g, NodeKind::LoadDataset, "parts", None);
        let t = node(&mut g, NodeKind::TrainStage, "s", None);
        g.graph.add_edge(
            m,
            t,
            Edge {
                artifact: Artifact::Model,
                role: "model".into(),
            },
        );
        g.graph.add_edge(
            d,
            t,
            Edge {
                artifact: Artifact::Pipeline,
                role: "pipeline".into(),
            },
        );
        assert_eq!(codes(&g), ["E0702"]);
    }

    #[test]
    fn cycles_and_two_writers_are_reported() {
        let mut g = ExecGraph::default();
        let a = node(
            &mut g,
            NodeKind::SaveCheckpoint,
            "a",
            Some("runs/x.safetensors"),
        );
        let b = node(
            &mut g,
            NodeKind::SaveCheckpoint,
            "b",
            Some("runs/x.safetensors"),
        );
        let l = node(&mut g, NodeKind::LoadCheckpoint, "x", None);
        g.graph.add_edge(
            a,
            l,
            Edge {
                artifact: Artifact::File,
                role: "file".into(),
            },
        );
        g.graph.add_edge(
            l,
            a,
            Edge {
                artifact: Artifact::Weights,
                role: "weights".into(),
            },
        );
        g.graph.add_edge(
            l,
            b,
            Edge {
                artifact: Artifact::Weights,
                role: "weights".into(),
            },
        );
        let c = codes(&g);
        assert!(c.contains(&"E0700") && c.contains(&"E0703"), "{c:?}");
    }
}
