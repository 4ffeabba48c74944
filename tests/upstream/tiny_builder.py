"""A reduced-size SAM 3 image model built from the sam3 package's own classes, for CPU tests (after the team's
harness in /work/shared/bench/upstream-tiny). Mirrors build_sam3_image_model; every size is a parameter."""
import torch, torch.nn as nn
from sam3.model.decoder import TransformerDecoder, TransformerDecoderLayer
from sam3.model.encoder import TransformerEncoderFusion, TransformerEncoderLayer
from sam3.model.geometry_encoders import SequenceGeometryEncoder
from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead
from sam3.model.model_misc import DotProductScoring, MLP, MultiheadAttentionWrapper as MHA, TransformerWrapper
from sam3.model.necks import Sam3DualViTDetNeck
from sam3.model.position_encoding import PositionEmbeddingSine
from sam3.model.sam3_image import Sam3Image
from sam3.model.text_encoder_ve import VETextEncoder
from sam3.model.tokenizer_ve import SimpleTokenizer
from sam3.model.vitdet import ViT
from sam3.model.vl_combiner import SAM3VLBackbone
from sam3.train.matcher import BinaryHungarianMatcherV2

def build_tiny_sam3_image_model(bpe_path, resolution=224, vit_dim=64, vit_depth=2, vit_heads=2,
                                window_size=8, global_att_blocks=(1,), d_model=64, text_width=64,
                                text_layers=1, text_heads=2, enc_layers=1, dec_layers=2,
                                num_queries=20, ffn=128, geo_layers=1, nheads=4,
                                enable_segmentation=True, eval_mode=False, precompute_pos=False):
    pe = lambda: PositionEmbeddingSine(num_pos_feats=d_model, normalize=True, scale=None, temperature=10000,
                                       precompute_resolution=(resolution if precompute_pos else None))
    trunk = ViT(img_size=resolution, pretrain_img_size=336, patch_size=14, embed_dim=vit_dim, depth=vit_depth,
                num_heads=vit_heads, mlp_ratio=4.625, norm_layer="LayerNorm", drop_path_rate=0.1, qkv_bias=True,
                use_abs_pos=True, tile_abs_pos=True, global_att_blocks=global_att_blocks, rel_pos_blocks=(),
                use_rope=True, use_interp_rope=True, window_size=window_size, pretrain_use_cls_token=True,
                retain_cls_token=False, ln_pre=True, ln_post=False, return_interm_layers=False,
                bias_patch_embed=False)
    neck = Sam3DualViTDetNeck(position_encoding=pe(), d_model=d_model, scale_factors=[4.0, 2.0, 1.0, 0.5],
                              trunk=trunk, add_sam2_neck=False)
    text = VETextEncoder(tokenizer=SimpleTokenizer(bpe_path=bpe_path), d_model=d_model, width=text_width,
                         heads=text_heads, layers=text_layers)
    # NOTE: upstream TextTransformer leaves positional_embedding/text_projection as torch.empty (no init);
    # harmless when a checkpoint is loaded, but a random-init model can contain NaN/inf garbage.
    nn.init.normal_(text.encoder.positional_embedding, std=0.01)
    nn.init.normal_(text.encoder.text_projection, std=text_width ** -0.5)
    backbone = SAM3VLBackbone(visual=neck, text=text, scalp=1)
    enc_layer = TransformerEncoderLayer(activation="relu", d_model=d_model, dim_feedforward=ffn, dropout=0.1,
        pos_enc_at_attn=True, pos_enc_at_cross_attn_keys=False, pos_enc_at_cross_attn_queries=False, pre_norm=True,
        self_attention=MHA(num_heads=nheads, dropout=0.1, embed_dim=d_model, batch_first=True),
        cross_attention=MHA(num_heads=nheads, dropout=0.1, embed_dim=d_model, batch_first=True))
    encoder = TransformerEncoderFusion(layer=enc_layer, num_layers=enc_layers, d_model=d_model, num_feature_levels=1,
        frozen=False, use_act_checkpoint=True, add_pooled_text_to_img_feat=False, pool_text_with_mask=True)
    dec_layer = TransformerDecoderLayer(activation="relu", d_model=d_model, dim_feedforward=ffn, dropout=0.1,
        cross_attention=MHA(num_heads=nheads, dropout=0.1, embed_dim=d_model), n_heads=nheads, use_text_cross_attention=True)
    decoder = TransformerDecoder(layer=dec_layer, num_layers=dec_layers, num_queries=num_queries, return_intermediate=True,
        box_refine=True, num_o2m_queries=0, dac=True, boxRPB="log", d_model=d_model, frozen=False, interaction_layer=None,
        dac_use_selfatt_ln=True, resolution=None, stride=None,   # NOTE upstream passes resolution=1008, stride=14 -> allocates on "cuda"
        use_act_checkpoint=True, presence_token=True)
    transformer = TransformerWrapper(encoder=encoder, decoder=decoder, d_model=d_model)
    scoring = DotProductScoring(d_model=d_model, d_proj=d_model, prompt_mlp=MLP(input_dim=d_model, hidden_dim=ffn,
        output_dim=d_model, num_layers=2, dropout=0.1, residual=True, out_norm=nn.LayerNorm(d_model)))
    seg = None
    if enable_segmentation:
        seg = UniversalSegmentationHead(hidden_dim=d_model, upsampling_stages=3, aux_masks=False, presence_head=False,
            dot_product_scorer=None, act_ckpt=True, cross_attend_prompt=MHA(num_heads=nheads, dropout=0, embed_dim=d_model),
            pixel_decoder=PixelDecoder(num_upsampling_stages=3, interpolation_mode="nearest", hidden_dim=d_model))
    geo_layer = TransformerEncoderLayer(activation="relu", d_model=d_model, dim_feedforward=ffn, dropout=0.1,
        pos_enc_at_attn=False, pre_norm=True, pos_enc_at_cross_attn_queries=False, pos_enc_at_cross_attn_keys=True,
        self_attention=MHA(num_heads=nheads, dropout=0.1, embed_dim=d_model, batch_first=False),
        cross_attention=MHA(num_heads=nheads, dropout=0.1, embed_dim=d_model, batch_first=False))
    geo = SequenceGeometryEncoder(pos_enc=pe(), encode_boxes_as_points=False, points_direct_project=True, points_pool=True,
        points_pos_enc=True, boxes_direct_project=True, boxes_pool=True, boxes_pos_enc=True, d_model=d_model,
        num_layers=geo_layers, layer=geo_layer, use_act_ckpt=True, add_cls=True, add_post_encode_proj=True)
    matcher = None if eval_mode else BinaryHungarianMatcherV2(focal=True, cost_class=2.0, cost_bbox=5.0, cost_giou=2.0,
                                                               alpha=0.25, gamma=2, stable=False)
    model = Sam3Image(backbone=backbone, transformer=transformer, input_geometry_encoder=geo, segmentation_head=seg,
        num_feature_levels=1, o2m_mask_predict=True, dot_prod_scoring=scoring, use_instance_query=False,
        multimask_output=True, inst_interactive_predictor=None, matcher=matcher)
    if eval_mode:
        model.eval()
    return model
