//! The initializations upstream applies to a freshly built image model after its modules' own defaults, so that
//! a model trained from scratch starts where Meta's would (same distributions, not the same draws).
//!
//! The module defaults are PyTorch's and live in the constructors ([`crate::model::common::linear`],
//! [`crate::model::common::conv2d`], ...). This pass adds the two passes that upstream runs over whole subtrees
//! by parameter name:
//!
//! * `ViT._init_weights` (`self.apply` over the trunk): every linear weight ~ trunc_normal(std 0.02) and every
//!   linear bias 0;
//! * `TransformerWrapper._reset_parameters`: every `transformer.*` parameter of rank > 1 whose name contains
//!   none of `box_embed`, `query_embed`, `reference_points` ~ xavier_uniform. The tracker's memory attention
//!   is a `TransformerWrapper` too ([`init_tracker_like_upstream`]).

use tch::nn::VarStore;
use tch::Tensor;

/// Applies upstream's subtree initializations to the image model whose variables start with `prefix` (`""`
/// for the image model, `"detector."` inside the video model). Draws from torch's global generator in name
/// order, so a seeded build is reproducible.
pub fn init_image_like_upstream(vs: &VarStore, prefix: &str) {
    init_subtrees(
        vs,
        Some(&format!("{prefix}backbone.vision_backbone.trunk.blocks.")),
        &format!("{prefix}transformer."),
    );
}

/// Applies upstream's subtree initialization to the tracker whose variables start with `prefix` (`"tracker."`
/// inside the video model): the xavier pass of its memory attention's `TransformerWrapper`.
pub fn init_tracker_like_upstream(vs: &VarStore, prefix: &str) {
    init_subtrees(vs, None, &format!("{prefix}transformer."));
}

fn init_subtrees(vs: &VarStore, trunk_blocks: Option<&str>, transformer: &str) {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, t) in vars.iter() {
            let mut t = t.shallow_clone();
            if let Some(rest) = trunk_blocks.and_then(|p| name.strip_prefix(p)) {
                // The trunk's linear layers: the only rank-2 weights of its blocks (norms are rank 1).
                if rest.ends_with(".weight") && t.dim() == 2 {
                    let _ = t.normal_(0.0, 0.02);
                } else if rest.ends_with(".bias") && !is_norm(rest) {
                    let _ = t.zero_();
                }
            } else if let Some(rest) = name.strip_prefix(transformer) {
                let excluded = ["box_embed", "query_embed", "reference_points"]
                    .iter()
                    .any(|k| rest.contains(k));
                if t.dim() > 1 && !excluded {
                    let (fan_in, fan_out) = fans(&t);
                    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                    let _ = t.uniform_(-bound, bound);
                }
            }
        }
    });
}

fn is_norm(rest: &str) -> bool {
    rest.contains("norm")
}

/// PyTorch's `_calculate_fan_in_and_fan_out`: dims 1 and 0 times the receptive field.
fn fans(t: &Tensor) -> (i64, i64) {
    let size = t.size();
    let receptive: i64 = size[2..].iter().product();
    (size[1] * receptive, size[0] * receptive)
}
