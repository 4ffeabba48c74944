//! `image_params` against the state dict of the released SAM 3 image model (`build_sam3_image_model()`),
//! dumped once from the upstream package into `tests/data/sam3_image_state_dict.tsv`.

use sam3c_stdlib::arch::image::{image_params, ImageConfig};
use sam3c_stdlib::arch::{DType, ModuleKind};

fn parse_shape(s: &str) -> Vec<i64> {
    s.trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect()
}

#[test]
fn full_config_matches_the_upstream_state_dict_exactly() {
    let tsv = include_str!("data/sam3_image_state_dict.tsv");
    let upstream: Vec<(String, Vec<i64>, String)> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (
                cols[0].to_string(),
                parse_shape(cols[1]),
                cols[2].to_string(),
            )
        })
        .collect();
    let ours = image_params(&ImageConfig::full());
    assert_eq!(upstream.len(), 1134);
    for (i, (p, (name, shape, dtype))) in ours.iter().zip(&upstream).enumerate() {
        assert_eq!(&p.name, name, "entry {i}: name");
        assert_eq!(&p.shape, shape, "entry {i} ({name}): shape");
        assert_eq!(p.dtype.torch_name(), dtype, "entry {i} ({name}): dtype");
    }
    assert_eq!(ours.len(), upstream.len(), "number of entries");

    let trainable: i64 = ours.iter().filter(|p| p.trainable).map(|p| p.numel()).sum();
    assert_eq!(trainable, 840_509_750);
    // Only the RoPE tables are buffers.
    for p in ours.iter().filter(|p| !p.trainable) {
        assert!(p.name.ends_with(".attn.freqs_cis"), "{}", p.name);
        assert_eq!(p.dtype, DType::Complex64);
    }
}

#[test]
fn module_kinds_follow_the_owning_torch_class() {
    let ours = image_params(&ImageConfig::full());
    let kind = |n: &str| ours.iter().find(|p| p.name == n).unwrap().module;
    assert_eq!(
        kind("backbone.vision_backbone.trunk.blocks.3.norm1.weight"),
        ModuleKind::LayerNorm
    );
    assert_eq!(
        kind("backbone.vision_backbone.trunk.pos_embed"),
        ModuleKind::Other
    );
    assert_eq!(
        kind("segmentation_head.pixel_decoder.norms.0.bias"),
        ModuleKind::GroupNorm
    );
    assert_eq!(
        kind("transformer.decoder.layers.0.ca_text.in_proj_weight"),
        ModuleKind::MultiheadAttention
    );
    assert_eq!(
        kind("transformer.decoder.layers.0.cross_attn.in_proj_weight"),
        ModuleKind::MultiheadAttentionWrapper
    );
    assert_eq!(
        kind("transformer.encoder.layers.0.self_attn.out_proj.weight"),
        ModuleKind::AttentionOutProj
    );
    assert_eq!(
        kind("backbone.vision_backbone.convs.0.dconv_2x2_0.weight"),
        ModuleKind::ConvTranspose2d
    );
    assert_eq!(
        kind("transformer.decoder.query_embed.weight"),
        ModuleKind::Embedding
    );
}

#[test]
fn segmentation_and_sam2_neck_flags_change_the_layout() {
    let mut cfg = ImageConfig::full();
    cfg.enable_segmentation = false;
    let without: i64 = image_params(&cfg)
        .iter()
        .filter(|p| p.trainable)
        .map(|p| p.numel())
        .sum();
    assert_eq!(without, 838_210_869); // upstream build_sam3_image_model(enable_segmentation=False)
    cfg.enable_segmentation = true;
    cfg.add_sam2_neck = true;
    let params = image_params(&cfg);
    let sam2: i64 = params
        .iter()
        .filter(|p| p.name.starts_with("backbone.vision_backbone.sam2_convs."))
        .map(|p| p.numel())
        .sum();
    let convs: i64 = params
        .iter()
        .filter(|p| p.name.starts_with("backbone.vision_backbone.convs."))
        .map(|p| p.numel())
        .sum();
    assert_eq!(sam2, convs);
    assert_eq!(convs, 7_802_112);
}

#[test]
fn bad_sizes_are_clear_errors() {
    let mut cfg = ImageConfig::tiny();
    cfg.resolution = 230;
    assert!(cfg
        .validate()
        .unwrap_err()
        .contains("multiple of `patch_size`"));
    let mut cfg = ImageConfig::tiny();
    cfg.global_att_blocks = vec![5];
    assert!(cfg.validate().unwrap_err().contains("global_att_blocks"));
    let mut cfg = ImageConfig::tiny();
    cfg.d_model = 60;
    assert!(cfg.validate().is_err());
    assert!(ImageConfig::tiny().validate().is_ok());
    assert!(ImageConfig::full().validate().is_ok());
}
