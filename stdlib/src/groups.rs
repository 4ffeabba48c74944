//! Parameter groups: which learning rate and weight decay each parameter trains with, from an `adamw` spec and
//! a model's parameter names. The compiler calls this to check patterns before any GPU time; the runtime calls it
//! to build its optimizer. Semantics follow upstream's `construct_optimizer` and `layer_decay_param_modifier`
//! (sam3/train/optim/optimizer.py): fnmatch patterns, one default learning rate for the rest, layer decay over a
//! ViT trunk with first-match overrides, weight decay 0 for parameters matched by name or owning module kind.

use crate::arch::{ModuleKind, ParamInfo};
use crate::components::optim::{AdamW, ModuleKindName, ParamSelector};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Python's `fnmatch.fnmatchcase`: `*` any run of characters (dots included), `?` one character,
/// `[abc]` / `[!abc]` / `[a-z]` a class. Iterative, without allocation: it runs for every parameter of an
/// 860M-parameter model against every pattern of a spec.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // The position after the last `*` and the name position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_matches(p, pi, n[ni]) {
                        if matched {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == b'[' {
                        // An unterminated `[` is a literal.
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch: let the last `*` swallow one more character, or fail.
        match star {
            Some((after, matched_to)) => {
                pi = after;
                ni = matched_to + 1;
                star = Some((after, matched_to + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether `c` is in the class starting at `p[start] == b'['`; with the index after the class. `None` when the
/// class is not terminated.
fn class_matches(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&b'!');
    if negate {
        i += 1;
    }
    let first = i;
    let mut hit = false;
    while i < p.len() {
        if p[i] == b']' && i > first {
            return Some((hit != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    None
}

/// Where a pattern was written in the optimizer spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PatternSite {
    /// `groups[group]`, its `pattern`-th pattern.
    Group {
        group: usize,
        pattern: usize,
    },
    NoDecay(usize),
    Freeze(usize),
    /// `layer_decay.overrides[i].pattern`
    Override(usize),
    /// `layer_decay.over`
    LayerDecayOver,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum GroupIssue {
    /// A pattern (or module kind) selects no parameter of the model.
    NoMatch {
        site: PatternSite,
        pattern: String,
        suggestions: Vec<String>,
    },
    /// Two groups claim the same parameters.
    Overlap {
        first: usize,
        second: usize,
        count: usize,
        example: String,
    },
    /// Parameters no group claims and no default learning rate covers.
    Uncovered { count: usize, examples: Vec<String> },
    /// `layer_decay.over` names a module that has no `blocks.N` (layer decay needs a ViT trunk).
    NotATrunk { over: String },
    /// A frozen parameter also sits in a group (the group's learning rate has no effect on it).
    FrozenInGroup {
        group: usize,
        count: usize,
        example: String,
    },
}

/// One optimizer parameter group: the same learning rate and weight decay for all its parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamGroup {
    pub params: Vec<String>,
    /// The learning rate at schedule factor 1: group lr × stage lr_scale × layer-decay scale.
    pub lr: f64,
    pub weight_decay: f64,
    /// Where the group comes from (for logs): `default`, `groups[1]`, with `layer 3` / `override *pos_embed*`.
    pub label: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resolution {
    pub groups: Vec<ParamGroup>,
    pub frozen: Vec<String>,
}

fn module_kind(name: ModuleKindName) -> ModuleKind {
    match name {
        ModuleKindName::LayerNorm => ModuleKind::LayerNorm,
        ModuleKindName::GroupNorm => ModuleKind::GroupNorm,
        ModuleKindName::Embedding => ModuleKind::Embedding,
        ModuleKindName::Linear => ModuleKind::Linear,
        ModuleKindName::Conv2d => ModuleKind::Conv2d,
    }
}

/// Layer id of a trunk parameter, as upstream's `ViT.get_layer_id` computes it on the full name.
fn layer_id(name: &str, depth: usize) -> usize {
    if name.contains("rel_pos") {
        depth + 1
    } else if name.contains("ln_pre")
        || name.contains("pos_embed")
        || name.contains("cls_token")
        || name.contains("patch_embed")
    {
        0
    } else if let Some(rest) = name.split("blocks").nth(1) {
        rest.split('.')
            .nth(1)
            .and_then(|k| k.parse::<usize>().ok())
            .map(|k| k + 1)
            .unwrap_or(depth + 1)
    } else {
        depth + 1
    }
}

/// Resolve the groups of `opt` over `params` (trainable ones only; buffers are skipped).
pub fn resolve(opt: &AdamW, params: &[ParamInfo], lr_scale: f64) -> (Resolution, Vec<GroupIssue>) {
    let names: Vec<&str> = params
        .iter()
        .filter(|p| p.trainable)
        .map(|p| p.name.as_str())
        .collect();
    let kinds: HashMap<&str, ModuleKind> =
        params.iter().map(|p| (p.name.as_str(), p.module)).collect();
    let mut issues = Vec::new();
    let check_pattern =
        |site: PatternSite, pattern: &str, issues: &mut Vec<GroupIssue>| -> Vec<usize> {
            let hits: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| fnmatch(pattern, n))
                .map(|(i, _)| i)
                .collect();
            if hits.is_empty() {
                issues.push(GroupIssue::NoMatch {
                    site,
                    pattern: pattern.to_string(),
                    suggestions: suggest_patterns(pattern, &names),
                });
            }
            hits
        };

    // Frozen parameters.
    let mut frozen = vec![false; names.len()];
    for (i, pattern) in opt.freeze.iter().enumerate() {
        for h in check_pattern(PatternSite::Freeze(i), pattern, &mut issues) {
            frozen[h] = true;
        }
    }

    // Learning-rate groups: owner[i] = Some(g) for groups[g], None for the default.
    let mut owner: Vec<Option<usize>> = vec![None; names.len()];
    let mut overlap: BTreeMap<(usize, usize), (usize, String)> = BTreeMap::new();
    for (g, group) in opt.groups.iter().enumerate() {
        for (pi, pattern) in group.patterns.iter().enumerate() {
            for h in check_pattern(
                PatternSite::Group {
                    group: g,
                    pattern: pi,
                },
                pattern,
                &mut issues,
            ) {
                match owner[h] {
                    Some(prev) if prev != g => {
                        let e = overlap
                            .entry((prev, g))
                            .or_insert((0, names[h].to_string()));
                        e.0 += 1;
                    }
                    _ => owner[h] = Some(g),
                }
            }
        }
    }
    for ((first, second), (count, example)) in overlap {
        issues.push(GroupIssue::Overlap {
            first,
            second,
            count,
            example,
        });
    }
    for g in 0..opt.groups.len() {
        let in_group: Vec<&str> = (0..names.len())
            .filter(|&i| owner[i] == Some(g) && frozen[i])
            .map(|i| names[i])
            .collect();
        if let Some(first) = in_group.first() {
            issues.push(GroupIssue::FrozenInGroup {
                group: g,
                count: in_group.len(),
                example: first.to_string(),
            });
        }
    }
    if opt.lr.is_none() {
        let uncovered: Vec<&str> = (0..names.len())
            .filter(|&i| owner[i].is_none() && !frozen[i])
            .map(|i| names[i])
            .collect();
        if !uncovered.is_empty() {
            issues.push(GroupIssue::Uncovered {
                count: uncovered.len(),
                examples: common_prefixes(&uncovered).into_iter().take(5).collect(),
            });
        }
    }

    // No weight decay.
    let mut no_decay = vec![false; names.len()];
    for (i, sel) in opt.no_decay.iter().enumerate() {
        match sel {
            ParamSelector::Pattern(p) => {
                for h in check_pattern(PatternSite::NoDecay(i), p, &mut issues) {
                    no_decay[h] = true;
                }
            }
            ParamSelector::Module(m) => {
                let kind = module_kind(*m);
                let hits: Vec<usize> = (0..names.len())
                    .filter(|&j| kinds.get(names[j]) == Some(&kind))
                    .collect();
                if hits.is_empty() {
                    issues.push(GroupIssue::NoMatch {
                        site: PatternSite::NoDecay(i),
                        pattern: format!("{m:?}"),
                        suggestions: vec![],
                    });
                }
                for h in hits {
                    no_decay[h] = true;
                }
            }
        }
    }

    // Layer decay: a scale per parameter and the key that splits groups.
    let mut scale = vec![1.0f64; names.len()];
    let mut layer_key: Vec<String> = vec![String::new(); names.len()];
    if let Some(ld) = &opt.layer_decay {
        let prefix = format!("{}.blocks.", ld.over);
        let depth = names
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('.').next()?.parse::<usize>().ok())
            .max()
            .map(|m| m + 1);
        match depth {
            None => {
                if names.iter().any(|n| n.starts_with(&ld.over)) {
                    issues.push(GroupIssue::NotATrunk {
                        over: ld.over.clone(),
                    });
                } else {
                    issues.push(GroupIssue::NoMatch {
                        site: PatternSite::LayerDecayOver,
                        pattern: ld.over.clone(),
                        suggestions: suggest_patterns(&format!("{}.*", ld.over), &names)
                            .into_iter()
                            .map(|s| s.trim_end_matches(".*").to_string())
                            .collect(),
                    });
                }
            }
            Some(depth) => {
                let n_layers = depth + 1;
                let decays: Vec<f64> = (0..=n_layers)
                    .map(|i| {
                        let v = ld.decay.powi((n_layers - i) as i32);
                        ld.min.map_or(v, |m| v.max(m))
                    })
                    .collect();
                for (oi, o) in ld.overrides.iter().enumerate() {
                    check_pattern(PatternSite::Override(oi), &o.pattern, &mut issues);
                }
                for (i, name) in names.iter().enumerate() {
                    if !name.starts_with(&ld.over) {
                        scale[i] = decays[n_layers];
                        layer_key[i] = format!("layer {n_layers}");
                        continue;
                    }
                    let id = layer_id(name, depth);
                    scale[i] = decays[id];
                    layer_key[i] = format!("layer {id}");
                    if let Some(o) = ld.overrides.iter().find(|o| fnmatch(&o.pattern, name)) {
                        scale[i] = o.scale;
                        layer_key[i] = format!("override {}", o.pattern);
                    }
                }
            }
        }
    }

    // Groups, in upstream's order: lr configs (default first, then `groups`), each split by layer in sorted-name
    // order, crossed with the weight-decay configs (default, then no-decay).
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| names[i]);
    let lr_configs: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..opt.groups.len()).map(Some))
        .collect();
    let mut groups = Vec::new();
    for owner_cfg in lr_configs {
        let base_lr = match owner_cfg {
            None => opt.lr.unwrap_or(0.0),
            Some(g) => opt.groups[g].lr,
        };
        let mut layers: Vec<String> = Vec::new();
        for &i in &order {
            if owner[i] == owner_cfg && !frozen[i] && !layers.contains(&layer_key[i]) {
                layers.push(layer_key[i].clone());
            }
        }
        for layer in layers {
            for decay in [true, false] {
                let members: Vec<usize> = (0..names.len())
                    .filter(|&i| {
                        owner[i] == owner_cfg
                            && !frozen[i]
                            && layer_key[i] == layer
                            && no_decay[i] != decay
                    })
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let label = format!(
                    "{}{}{}",
                    owner_cfg.map_or("default".to_string(), |g| format!("groups[{g}]")),
                    if layer.is_empty() {
                        String::new()
                    } else {
                        format!(", {layer}")
                    },
                    if decay { "" } else { ", no decay" }
                );
                groups.push(ParamGroup {
                    params: members.iter().map(|&i| names[i].to_string()).collect(),
                    lr: base_lr * lr_scale * scale[members[0]],
                    weight_decay: if decay { opt.weight_decay } else { 0.0 },
                    label,
                });
            }
        }
    }
    let frozen = (0..names.len())
        .filter(|&i| frozen[i])
        .map(|i| names[i].to_string())
        .collect();
    (Resolution { groups, frozen }, issues)
}

/// Real prefixes (`a.b.*`) of the model closest to a pattern that matched nothing; when the pattern works after
/// a `detector.` / `tracker.` prefix (image patterns on the video model), that first.
pub fn suggest_patterns(pattern: &str, names: &[&str]) -> Vec<String> {
    for prefix in ["detector.", "tracker."] {
        let re_rooted = format!("{prefix}{pattern}");
        if names.iter().any(|n| fnmatch(&re_rooted, n)) {
            return vec![re_rooted];
        }
    }
    let mut candidates: Vec<String> = Vec::new();
    for n in names {
        let parts: Vec<&str> = n.split('.').collect();
        for k in 1..parts.len() {
            candidates.push(format!("{}.*", parts[..k].join(".")));
        }
    }
    candidates.sort();
    candidates.dedup();
    let mut scored: Vec<(f64, String)> = candidates
        .into_iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(pattern, &c), c))
        .filter(|(s, _)| *s >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Group names by their first two dot components, for short listings (`transformer.decoder.*`).
fn common_prefixes(names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let parts: Vec<&str> = n.split('.').collect();
        let p = if parts.len() > 2 {
            format!("{}.*", parts[..2].join("."))
        } else {
            n.to_string()
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch("*bias*", "backbone.blocks.0.attn.qkv.bias"));
        assert!(fnmatch(
            "backbone.vision_backbone.*",
            "backbone.vision_backbone.trunk.pos_embed"
        ));
        assert!(!fnmatch(
            "backbone.vision_backbone.*",
            "backbone.vision_backbonex"
        ));
        assert!(fnmatch("blocks.?.norm1.weight", "blocks.3.norm1.weight"));
        assert!(
            fnmatch("blocks.[0-2].x", "blocks.1.x") && !fnmatch("blocks.[!0-2].x", "blocks.1.x")
        );
        assert!(!fnmatch("A*", "a"));
        assert!(fnmatch("*.weight", "a.b.weight") && !fnmatch("*.weight", "a.b.weights"));
        assert!(fnmatch("*a*b*", "xxaybz") && !fnmatch("*a*b*", "xxbya"));
        assert!(fnmatch("[]]", "]") && fnmatch("a[", "a["));
    }

    #[test]
    fn layer_ids_follow_the_vit() {
        assert_eq!(
            layer_id("backbone.vision_backbone.trunk.patch_embed.proj.weight", 32),
            0
        );
        assert_eq!(
            layer_id(
                "backbone.vision_backbone.trunk.blocks.31.mlp.fc1.weight",
                32
            ),
            32
        );
        assert_eq!(
            layer_id("backbone.vision_backbone.trunk.ln_post.weight", 32),
            33
        );
    }
}
