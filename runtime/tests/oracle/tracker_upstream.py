"""Reduced-size upstream tracker for the oracle tests: the classes `sam3.model_builder.build_tracker` uses, with
every size taken from a serialized `TrackerConfig` (JSON), on CPU.

Upstream hard-codes the SAM heads' sizes in `Sam3TrackerBase._build_sam_heads`; they are rebuilt here from the
same classes with the configured sizes (the module order of the state dict is unchanged)."""
import json

import torch


def apply_cpu_patches():
    """The shared CPU patches (`sam3_cpu`: device="cuda" constructors, `pin_memory`), plus `.cuda()`, with which
    `Sam3TrackerBase` moves memories back to the GPU, as a no-op."""
    import sam3_cpu  # noqa: F401  (patches on import)

    torch.Tensor.cuda = lambda self, *a, **k: self


def load_config(path):
    with open(path) as f:
        return json.load(f)


def build_tracker(cfg):
    from sam3.model.decoder import TransformerDecoderLayerv2, TransformerEncoderCrossAttention
    from sam3.model.memory import CXBlock, SimpleFuser, SimpleMaskDownSampler, SimpleMaskEncoder
    from sam3.model.model_misc import TransformerWrapper
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.sam3_tracker_base import Sam3TrackerBase
    from sam3.sam.mask_decoder import MaskDecoder
    from sam3.sam.prompt_encoder import PromptEncoder
    from sam3.sam.transformer import RoPEAttention, TwoWayTransformer

    d, mem_dim = cfg["d_model"], cfg["mem_dim"]
    feat = cfg["image_size"] // cfg["backbone_stride"]
    interpol = cfg["mask_downsampler_interpol_size"]
    maskmem_backbone = SimpleMaskEncoder(
        out_dim=mem_dim,
        in_dim=d,
        position_encoding=PositionEmbeddingSine(
            num_pos_feats=mem_dim, normalize=True, scale=None, temperature=10000, precompute_resolution=None
        ),
        mask_downsampler=SimpleMaskDownSampler(
            embed_dim=d,
            kernel_size=cfg["mask_downsampler_kernel_size"],
            stride=cfg["mask_downsampler_stride"],
            padding=cfg["mask_downsampler_padding"],
            total_stride=cfg["mask_downsampler_total_stride"],
            interpol_size=[interpol, interpol],
        ),
        fuser=SimpleFuser(
            layer=CXBlock(
                dim=d,
                kernel_size=cfg["fuser_kernel_size"],
                padding=cfg["fuser_padding"],
                layer_scale_init_value=cfg["fuser_layer_scale_init"],
                use_dwconv=True,
            ),
            num_layers=cfg["fuser_layers"],
        ),
    )
    attn = dict(
        embedding_dim=d,
        num_heads=cfg["memory_attention_heads"],
        downsample_rate=1,
        dropout=cfg["dropout"],
        rope_theta=cfg["rope_theta"],
        feat_sizes=[feat, feat],
        use_fa3=False,
        use_rope_real=False,
    )
    layer = TransformerDecoderLayerv2(
        cross_attention_first=False,
        activation="relu",
        dim_feedforward=cfg["ffn_dim"],
        dropout=cfg["dropout"],
        pos_enc_at_attn=False,
        pre_norm=True,
        self_attention=RoPEAttention(**attn),
        d_model=d,
        pos_enc_at_cross_attn_keys=True,
        pos_enc_at_cross_attn_queries=False,
        cross_attention=RoPEAttention(kv_in_dim=mem_dim, rope_k_repeat=True, **attn),
    )
    encoder = TransformerEncoderCrossAttention(
        remove_cross_attention_layers=[],
        batch_first=True,
        d_model=d,
        frozen=False,
        pos_enc_at_input=True,
        layer=layer,
        num_layers=cfg["memory_attention_layers"],
        use_act_checkpoint=False,
    )
    decoder_args = {
        "dynamic_multimask_via_stability": cfg["dynamic_multimask_via_stability"],
        "dynamic_multimask_stability_delta": cfg["dynamic_multimask_stability_delta"],
        "dynamic_multimask_stability_thresh": cfg["dynamic_multimask_stability_thresh"],
    }
    model = Sam3TrackerBase(
        backbone=None,
        transformer=TransformerWrapper(encoder=encoder, decoder=None, d_model=d),
        maskmem_backbone=maskmem_backbone,
        num_maskmem=cfg["num_maskmem"],
        image_size=cfg["image_size"],
        backbone_stride=cfg["backbone_stride"],
        max_cond_frames_in_attn=cfg["max_cond_frames_in_attn"],
        keep_first_cond_frame=cfg["keep_first_cond_frame"],
        multimask_output_in_sam=cfg["multimask_output_in_sam"],
        multimask_min_pt_num=cfg["multimask_min_pt_num"],
        multimask_max_pt_num=cfg["multimask_max_pt_num"],
        multimask_output_for_tracking=cfg["multimask_output_for_tracking"],
        forward_backbone_per_frame_for_eval=True,
        memory_temporal_stride_for_eval=cfg["memory_temporal_stride_for_eval"],
        non_overlap_masks_for_mem_enc=cfg["non_overlap_masks_for_mem_enc"],
        max_obj_ptrs_in_encoder=cfg["max_obj_ptrs_in_encoder"],
        sam_mask_decoder_extra_args=decoder_args,
        use_memory_selection=cfg["use_memory_selection"],
        mf_threshold=cfg["mf_threshold"],
    )
    model.sigmoid_scale_for_mem_enc = cfg["sigmoid_scale_for_mem_enc"]
    model.sigmoid_bias_for_mem_enc = cfg["sigmoid_bias_for_mem_enc"]
    # Training-only attributes `Sam3TrackerBase` reads but never sets (SAM 2's trainer set them).
    model.teacher_force_obj_scores_for_mem = cfg["teacher_force_obj_scores_for_mem"]
    model.prob_to_dropout_spatial_mem = 0.0
    # The SAM heads at the configured sizes (upstream: mask_in_chans 16, depth 2, 8 heads, MLP 2048, ...).
    model.sam_prompt_encoder = PromptEncoder(
        embed_dim=d,
        image_embedding_size=(feat, feat),
        input_image_size=(cfg["image_size"], cfg["image_size"]),
        mask_in_chans=cfg["prompt_mask_in_chans"],
    )
    model.sam_mask_decoder = MaskDecoder(
        num_multimask_outputs=cfg["num_multimask_outputs"],
        transformer=TwoWayTransformer(
            depth=cfg["two_way_depth"],
            embedding_dim=d,
            mlp_dim=cfg["two_way_mlp_dim"],
            num_heads=cfg["two_way_heads"],
            attention_downsample_rate=cfg["attention_downsample_rate"],
        ),
        transformer_dim=d,
        iou_head_depth=cfg["iou_head_depth"],
        iou_head_hidden_dim=cfg["iou_head_hidden_dim"],
        use_high_res_features=True,
        iou_prediction_use_sigmoid=True,
        pred_obj_scores=True,
        pred_obj_scores_mlp=True,
        use_multimask_token_for_obj_ptr=True,
        **decoder_args,
    )
    return model


def rerandomize(module, scale=0.1):
    """Every parameter and floating buffer to N(0, scale²): zero/one inits would hide swapped or misnamed
    tensors."""
    with torch.no_grad():
        for t in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
            t.copy_(torch.randn_like(t) * scale)
