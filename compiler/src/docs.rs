//! The catalog as text: `sam3c doc` and `sam3c doc NAME`.

use crate::types::Ty;
use sam3c_stdlib::catalog::{ComponentSig, Domain, Kind};
use sam3c_stdlib::components;
use std::fmt::Write;

const KIND_ORDER: [(Kind, &str); 12] = [
    (Kind::Dataset, "Datasets"),
    (Kind::Sampler, "Clip samplers"),
    (Kind::Transform, "Transforms (pipeline steps)"),
    (Kind::Model, "Models"),
    (Kind::Loss, "Losses"),
    (Kind::LossTerm, "Loss terms"),
    (Kind::Matcher, "Matchers"),
    (Kind::Optimizer, "Optimizers"),
    (Kind::Schedule, "Schedules"),
    (Kind::Meter, "Meters"),
    (Kind::Postprocess, "Postprocessors"),
    (Kind::Value, "Helpers"),
];

/// Every component, grouped by kind, with its one-line summary.
pub fn catalog() -> String {
    let mut out = String::new();
    let mut kinds: Vec<(Kind, &str)> = KIND_ORDER.to_vec();
    kinds.extend([
        (Kind::Stage, "Stages"),
        (Kind::Evaluation, "Evaluations"),
        (Kind::Experiment, "Experiment"),
        (Kind::Resources, "Resources"),
        (Kind::Cluster, "Clusters"),
    ]);
    for (kind, title) in kinds {
        let items: Vec<&ComponentSig> = components::all()
            .iter()
            .filter(|c| c.kind == kind)
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}");
        for c in items {
            let _ = writeln!(out, "  {:<16} {}", c.name, first_sentence(c.summary()));
        }
        out.push('\n');
    }
    out.push_str("`sam3c doc NAME` shows a component's parameters.\n");
    out
}

fn first_sentence(s: &str) -> &str {
    match s.find(". ") {
        Some(i) => &s[..=i],
        None => s,
    }
}

fn domain_words(d: Domain) -> &'static str {
    match d {
        Domain::Image => "images",
        Domain::Video => "videos",
        Domain::Any => "images and videos",
    }
}

/// One component: its kind, domain, upstream target, documentation and parameters.
pub fn component(name: &str) -> Option<String> {
    let c = components::lookup(name)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  ({}, for {})",
        c.name,
        c.kind.noun(),
        domain_words(c.domain)
    );
    if let Some(u) = c.upstream {
        let _ = writeln!(out, "upstream: {u}");
    }
    out.push('\n');
    for para in c.doc.split("\n\n") {
        let _ = writeln!(out, "{}\n", wrap(para, 100, ""));
    }
    if !c.params.is_empty() {
        out.push_str("Parameters:\n");
        let width = c.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &c.params {
            let ty = Ty::from_desc(&p.ty).to_string();
            let mut tags = Vec::new();
            match p.default {
                Some(d) => tags.push(format!("default {d}")),
                None => tags.push("required".into()),
            }
            if p.positional {
                tags.push("positional".into());
            }
            if let Some(r) = p.range {
                tags.push(format!("in {r}"));
            }
            if let Some(u) = p.upstream {
                tags.push(format!("upstream `{u}`"));
            }
            let _ = writeln!(
                out,
                "  {:<width$}  {}   ({})",
                p.name,
                ty,
                tags.join(", "),
                width = width
            );
            let _ = writeln!(out, "{}", wrap(p.doc, 100, "      "));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Usage:\n  {}", usage(c));
    Some(out)
}

/// `name(required, optional = default, ...)`.
fn usage(c: &ComponentSig) -> String {
    let args: Vec<String> = c
        .params
        .iter()
        .map(|p| match (p.positional, p.default) {
            (true, None) => p.name.to_string(),
            (_, Some(d)) => format!("{} = {d}", p.name),
            (false, None) => format!("{} = ...", p.name),
        })
        .collect();
    format!("{}({})", c.name, args.join(", "))
}

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > width && !line.trim().is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(indent);
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out
}
