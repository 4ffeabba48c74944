//! The execution graph of every example: snapshotted as text, valid Graphviz, and content hashes that change
//! exactly where the spec changed (and downstream of it).

mod common;

use sam3c_compiler::graph::{ExecGraph, NodeKind};
use std::collections::HashMap;

fn graph_of(path: &std::path::Path, overrides: &[(&str, &str)]) -> ExecGraph {
    let opts = sam3c_compiler::CheckOptions {
        overrides: overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let out = sam3c_compiler::check(&common::FsDb, path, &opts);
    assert!(!out.has_errors(), "{}", common::render_all(&out));
    out.graph.expect("a spec without errors has a graph")
}

#[test]
fn example_graphs_are_as_snapshotted() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        "*.sam3x",
        |path| {
            let path = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            insta::assert_snapshot!(graph_of(path, &[]).to_text());
        }
    );
}

#[test]
fn dot_output_renders_with_graphviz() {
    let Ok(dot) = which("dot") else {
        assert!(
            !sam3c_testkit::oracles_required(),
            "graphviz `dot` is not installed"
        );
        eprintln!("skipping: graphviz `dot` is not installed");
        return;
    };
    for path in common::specs_in("examples") {
        let g = graph_of(&path, &[]);
        let mut child = std::process::Command::new(&dot)
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(g.to_dot().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}: dot failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    }
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .ok_or(())
}

fn hashes(g: &ExecGraph) -> HashMap<(NodeKind, String), String> {
    g.graph
        .node_indices()
        .map(|n| {
            (
                (g.graph[n].kind, g.graph[n].name.clone()),
                g.graph[n].hash.clone(),
            )
        })
        .collect()
}

#[test]
fn a_change_rehashes_its_node_and_everything_downstream_only() {
    let path = std::path::Path::new("examples/factory.sam3x");
    let before = hashes(&graph_of(path, &[]));
    let after = hashes(&graph_of(path, &[("image_lr_scale", "0.2")]));
    let changed =
        |kind, name: &str| before[&(kind, name.to_string())] != after[&(kind, name.to_string())];
    // The first stage's learning rate changed: it and what consumes its weights are new work.
    assert!(changed(NodeKind::TrainStage, "spatial"));
    assert!(changed(NodeKind::SaveCheckpoint, "spatial"));
    assert!(changed(NodeKind::TrainStage, "temporal"));
    // Data, pipelines and the pretrained checkpoint are untouched.
    assert!(!changed(NodeKind::LoadDataset, "parts"));
    assert!(!changed(NodeKind::BuildPipeline, "train_images"));
    assert!(!changed(NodeKind::LoadCheckpoint, "checkpoints/sam3.pt"));
    assert!(!changed(NodeKind::BuildModel, "detector"));
}

#[test]
fn stages_that_share_content_share_nodes_and_read_what_earlier_stages_write() {
    let g = graph_of(std::path::Path::new("examples/quickstart.sam3x"), &[]);
    let count = |kind, name: Option<&str>| {
        g.graph
            .node_indices()
            .filter(|&n| g.graph[n].kind == kind && name.is_none_or(|m| g.graph[n].name == m))
            .count()
    };
    assert_eq!(
        count(NodeKind::LoadDataset, None),
        4,
        "train and test images, training and held-out clips, each loaded once"
    );
    assert_eq!(
        count(NodeKind::BuildPipeline, Some("eval_images")),
        1,
        "the image and the video meter share one evaluation pipeline"
    );
    assert_eq!(count(NodeKind::TrainStage, None), 2);
    let weights = g
        .find(
            NodeKind::LoadCheckpoint,
            "examples/weights/sam3-tiny-factory.safetensors",
        )
        .unwrap();
    let finetune = g.find(NodeKind::TrainStage, "finetune").unwrap();
    let temporal = g.find(NodeKind::TrainStage, "temporal").unwrap();
    let finetune_saved = g.find(NodeKind::SaveCheckpoint, "finetune").unwrap();
    let order = g.order();
    let pos = |n| order.iter().position(|&x| x == n).unwrap();
    assert!(
        pos(weights) < pos(finetune),
        "finetune starts from the pretrained weights"
    );
    assert!(
        pos(finetune_saved) < pos(temporal),
        "temporal runs after finetune's checkpoint is written"
    );
    assert!(sam3c_compiler::graph::validate(&g).is_empty());
}
