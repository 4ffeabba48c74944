"""Oracle of the image-model parity tests (tests/image_parity.rs).

Builds reduced-size modules from Meta's `sam3` package (0.1.4) on CPU, re-randomizes every parameter
(randn * 0.1, so that swapped or misnamed weights cannot hide behind zero/one inits), runs forward and a
backward pass with a fixed random upstream gradient, and writes one safetensors file:
  weights.<name>   the state dict (complex RoPE buffers left out: the runtime recomputes them)
  input.<name>     inputs;  output.<name>  outputs;  grads.<name>  parameter gradients
usage: python sam3_image_oracle.py CASE OUT.safetensors CONFIG_JSON
       python sam3_image_oracle.py all OUTDIR CONFIG_JSON   (every case, one file each)
CONFIG_JSON is the serde JSON of the Rust ImageConfig the case is built from.
"""

import math
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

import sam3_cpu  # noqa: F401  (patches that let upstream modules run without CUDA)

torch.manual_seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ASSETS = os.environ.get("SAM3C_ASSETS", os.path.join(os.path.dirname(__file__), "..", "..", "assets"))
BPE_PATH = os.path.join(ASSETS, "bpe_simple_vocab_16e6.txt.gz")


class Out:
    """Collects the tensors of one case."""

    def __init__(self):
        self.t = {}

    def weights(self, module, prefix=""):
        for k, v in module.state_dict().items():
            if v.is_complex():
                continue
            self.t[f"weights.{prefix}{k}"] = v.detach().clone()

    def grads(self, module, prefix=""):
        for k, p in module.named_parameters():
            if p.grad is not None:
                self.t[f"grads.{prefix}{k}"] = p.grad.detach().clone()

    def __setitem__(self, k, v):
        if isinstance(v, bool):
            v = torch.tensor(v)
        if v.dtype == torch.bool:
            v = v.to(torch.uint8)
        self.t[k] = v.detach().clone().contiguous()

    def save(self, path):
        save_file({k: v.contiguous() for k, v in self.t.items()}, path)


def randomize(module, scale=0.1):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)
    return module


def backward(out, outputs, upstream_name="upstream"):
    """Sum of <output, fixed random tensor> over the given outputs, then backward."""
    total = 0
    for i, y in enumerate(outputs):
        g = torch.randn_like(y)
        out[f"input.{upstream_name}{i}"] = g
        total = total + (y * g).sum()
    total.backward()


CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------------------------------------- common blocks


@case
def mha(out):
    from sam3.model.model_misc import MultiheadAttentionWrapper

    d, h = 16, 4
    # batch-first self-attention (q is k is v) with key padding: the text encoder / fusion encoder pattern
    m1 = randomize(nn.MultiheadAttention(d, h, batch_first=True))
    x = torch.randn(2, 5, d)
    kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    y1 = m1(x, x, x, key_padding_mask=kpm, need_weights=False)[0]
    # seq-first cross-attention (k is v), 3D additive mask + key padding: the decoder image cross-attention
    m2 = randomize(MultiheadAttentionWrapper(d, h))
    q = torch.randn(3, 2, d)
    kv = torch.randn(6, 2, d)
    am = torch.randn(2 * h, 3, 6)
    kpm2 = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    y2 = m2(query=q, key=kv, value=kv, attn_mask=am, key_padding_mask=kpm2)[0]
    # q is k, v distinct, causal float mask: the decoder self-attention pattern
    m3 = randomize(nn.MultiheadAttention(d, h))
    v = torch.randn(4, 2, d)
    qk = v + torch.randn(4, 2, d)
    causal = torch.full((4, 4), float("-inf")).triu_(1)
    y3 = m3(qk, qk, v, attn_mask=causal, need_weights=False)[0]
    for name, m in [("self_bf", m1), ("cross", m2), ("qk", m3)]:
        out.weights(m, f"{name}.")
    out["input.x"], out["input.kpm"] = x, kpm
    out["input.q"], out["input.kv"], out["input.am"], out["input.kpm2"] = q, kv, am, kpm2
    out["input.v"], out["input.qk"], out["input.causal"] = v, qk, causal
    out["output.self_bf"], out["output.cross"], out["output.qk"] = y1, y2, y3
    backward(out, [y1, y2, y3])
    for name, m in [("self_bf", m1), ("cross", m2), ("qk", m3)]:
        out.grads(m, f"{name}.")


@case
def mlp(out):
    from sam3.model.model_misc import MLP

    m1 = randomize(MLP(6, 12, 4, 3))
    m2 = randomize(MLP(8, 20, 8, 2, dropout=0.1, residual=True, out_norm=nn.LayerNorm(8))).eval()
    x1, x2 = torch.randn(3, 2, 6), torch.randn(5, 8)
    y1, y2 = m1(x1), m2(x2)
    out.weights(m1, "plain.")
    out.weights(m2, "residual.")
    out["input.x1"], out["input.x2"], out["output.plain"], out["output.residual"] = x1, x2, y1, y2
    backward(out, [y1, y2])
    out.grads(m1, "plain.")
    out.grads(m2, "residual.")


@case
def position_encoding(out):
    from sam3.model.model_misc import gen_sineembed_for_position
    from sam3.model.position_encoding import PositionEmbeddingSine

    pe = PositionEmbeddingSine(num_pos_feats=32, normalize=True, scale=None, temperature=10000)
    out["output.map"] = pe(torch.zeros(2, 1, 5, 7))
    b = torch.rand(6, 4)
    out["input.boxes"] = b
    out["output.boxes"] = pe.encode_boxes(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    pts = torch.rand(5, 3, 2)
    out["input.points"] = pts
    ex, ey = pe._encode_xy(pts[..., 0].flatten(), pts[..., 1].flatten())
    out["output.points_x"], out["output.points_y"] = ex, ey
    ref = torch.rand(7, 2, 4)
    out["input.ref"] = ref
    out["output.sine4"] = gen_sineembed_for_position(ref, 32)
    out["output.sine2"] = gen_sineembed_for_position(ref[..., :2], 32)


@case
def rope(out):
    from sam3.model.vitdet import apply_rotary_enc, compute_axial_cis

    for name, (dim, ex, ey, scale) in {"window": (16, 4, 4, 1.0), "global": (16, 6, 6, 4 / 6)}.items():
        cis = compute_axial_cis(dim=dim, end_x=ex, end_y=ey, theta=10000.0, scale_pos=scale)
        q = torch.randn(2, 3, ex * ey, dim)
        k = torch.randn(2, 3, ex * ey, dim)
        qo, ko = apply_rotary_enc(q, k, freqs_cis=cis)
        out[f"output.{name}_cos"], out[f"output.{name}_sin"] = cis.real, cis.imag
        out[f"input.{name}_q"], out[f"input.{name}_k"] = q, k
        out[f"output.{name}_q"], out[f"output.{name}_k"] = qo, ko
    # keys twice as long as queries (the tracker's repeat_freqs_k)
    cis = compute_axial_cis(dim=8, end_x=3, end_y=2)
    q, k = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 12, 8)
    qo, ko = apply_rotary_enc(q, k, freqs_cis=cis, repeat_freqs_k=True)
    out["input.rep_q"], out["input.rep_k"], out["output.rep_q"], out["output.rep_k"] = q, k, qo, ko



# ------------------------------------------------------------------------------------ reduced upstream model
# Every size comes from the ImageConfig the Rust test passes as JSON (argv[3]), so both sides agree.

CFG = None


def build_trunk(cfg):
    from sam3.model.vitdet import ViT

    return ViT(img_size=cfg["resolution"], pretrain_img_size=cfg["pretrain_img_size"], patch_size=cfg["patch_size"],
               embed_dim=cfg["vit_dim"], depth=cfg["vit_depth"], num_heads=cfg["vit_heads"],
               mlp_ratio=cfg["vit_mlp_ratio"], norm_layer="LayerNorm", drop_path_rate=cfg["drop_path_rate"],
               qkv_bias=True, use_abs_pos=True, tile_abs_pos=True, global_att_blocks=tuple(cfg["global_att_blocks"]),
               rel_pos_blocks=(), use_rope=True, use_interp_rope=True, window_size=cfg["window_size"],
               pretrain_use_cls_token=True, retain_cls_token=False, ln_pre=True, ln_post=False,
               return_interm_layers=False, bias_patch_embed=False, use_act_checkpoint=False)


def pos_enc(cfg):
    from sam3.model.position_encoding import PositionEmbeddingSine

    return PositionEmbeddingSine(num_pos_feats=cfg["d_model"], normalize=True, scale=None, temperature=10000)


def build_neck(cfg, sam2=None):
    from sam3.model.necks import Sam3DualViTDetNeck

    return Sam3DualViTDetNeck(position_encoding=pos_enc(cfg), d_model=cfg["d_model"],
                              scale_factors=[4.0, 2.0, 1.0, 0.5], trunk=build_trunk(cfg),
                              add_sam2_neck=cfg["add_sam2_neck"] if sam2 is None else sam2)


def build_text(cfg):
    from sam3.model.text_encoder_ve import VETextEncoder
    from sam3.model.tokenizer_ve import SimpleTokenizer

    return VETextEncoder(tokenizer=SimpleTokenizer(bpe_path=BPE_PATH), d_model=cfg["d_model"],
                         width=cfg["text_width"], heads=cfg["text_heads"], layers=cfg["text_layers"],
                         context_length=cfg["text_context_length"], vocab_size=cfg["vocab_size"],
                         use_act_checkpoint=True)


def mha(cfg, batch_first=None, dropout=None):
    from sam3.model.model_misc import MultiheadAttentionWrapper

    kw = {} if batch_first is None else {"batch_first": batch_first}
    return MultiheadAttentionWrapper(num_heads=cfg["heads"], dropout=cfg["dropout"] if dropout is None else dropout,
                                     embed_dim=cfg["d_model"], **kw)


def encoder_layer(cfg, geometry):
    from sam3.model.encoder import TransformerEncoderLayer

    return TransformerEncoderLayer(activation="relu", d_model=cfg["d_model"], dim_feedforward=cfg["ffn_dim"],
                                   dropout=cfg["dropout"], pos_enc_at_attn=not geometry,
                                   pos_enc_at_cross_attn_keys=geometry, pos_enc_at_cross_attn_queries=False,
                                   pre_norm=True, self_attention=mha(cfg, batch_first=not geometry),
                                   cross_attention=mha(cfg, batch_first=not geometry))


def build_fusion_encoder(cfg):
    from sam3.model.encoder import TransformerEncoderFusion

    return TransformerEncoderFusion(layer=encoder_layer(cfg, False), num_layers=cfg["enc_layers"],
                                    d_model=cfg["d_model"], num_feature_levels=1, frozen=False,
                                    use_act_checkpoint=True, add_pooled_text_to_img_feat=False,
                                    pool_text_with_mask=True)


def decoder_layer(cfg):
    from sam3.model.decoder import TransformerDecoderLayer

    return TransformerDecoderLayer(activation="relu", d_model=cfg["d_model"], dim_feedforward=cfg["ffn_dim"],
                                   dropout=cfg["dropout"], cross_attention=mha(cfg), n_heads=cfg["heads"],
                                   use_text_cross_attention=True)


def build_decoder(cfg):
    from sam3.model.decoder import TransformerDecoder

    return TransformerDecoder(layer=decoder_layer(cfg), num_layers=cfg["dec_layers"], num_queries=cfg["num_queries"],
                              return_intermediate=True, box_refine=True, num_o2m_queries=0, dac=True, boxRPB="log",
                              d_model=cfg["d_model"], frozen=False, interaction_layer=None, dac_use_selfatt_ln=True,
                              resolution=None, stride=None, use_act_checkpoint=True, presence_token=True)


def build_geometry(cfg):
    from sam3.model.geometry_encoders import SequenceGeometryEncoder

    return SequenceGeometryEncoder(pos_enc=pos_enc(cfg), encode_boxes_as_points=False, points_direct_project=True,
                                   points_pool=True, points_pos_enc=True, boxes_direct_project=True, boxes_pool=True,
                                   boxes_pos_enc=True, d_model=cfg["d_model"], num_layers=cfg["geo_layers"],
                                   layer=encoder_layer(cfg, True), use_act_ckpt=True, add_cls=True,
                                   add_post_encode_proj=True)


def build_scoring(cfg):
    from sam3.model.model_misc import MLP, DotProductScoring

    d = cfg["d_model"]
    return DotProductScoring(d_model=d, d_proj=d, prompt_mlp=MLP(input_dim=d, hidden_dim=cfg["scoring_mlp_dim"],
                             output_dim=d, num_layers=2, dropout=cfg["dropout"], residual=True,
                             out_norm=nn.LayerNorm(d)))


def build_seg_head(cfg):
    from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead

    d = cfg["d_model"]
    return UniversalSegmentationHead(hidden_dim=d, upsampling_stages=3, aux_masks=False, presence_head=False,
                                     dot_product_scorer=None, act_ckpt=True, cross_attend_prompt=mha(cfg, dropout=0),
                                     pixel_decoder=PixelDecoder(num_upsampling_stages=3, interpolation_mode="nearest",
                                                                hidden_dim=d))


def build_model(cfg):
    from sam3.model.model_misc import TransformerWrapper
    from sam3.model.sam3_image import Sam3Image
    from sam3.model.vl_combiner import SAM3VLBackbone

    backbone = SAM3VLBackbone(visual=build_neck(cfg), text=build_text(cfg), scalp=1)
    transformer = TransformerWrapper(encoder=build_fusion_encoder(cfg), decoder=build_decoder(cfg), d_model=cfg["d_model"])
    seg = build_seg_head(cfg) if cfg["enable_segmentation"] else None
    model = Sam3Image(backbone=backbone, transformer=transformer, input_geometry_encoder=build_geometry(cfg),
                      segmentation_head=seg, num_feature_levels=1, o2m_mask_predict=True,
                      dot_prod_scoring=build_scoring(cfg), use_instance_query=False, multimask_output=True,
                      inst_interactive_predictor=None, matcher=None)
    # Matching is the training code's job on our side: skip upstream's in-model matcher.
    model._compute_matching = lambda out, targets: None
    model.back_convert = lambda targets: targets
    return model


def images(cfg, n):
    r = cfg["resolution"]
    return torch.randn(n, 3, r, r)


@case
def vit_blocks(out):
    trunk = randomize(build_trunk(CFG)).eval()
    g = CFG["resolution"] // CFG["patch_size"]
    outs = []
    for i in (0, CFG["global_att_blocks"][0]):
        blk = trunk.blocks[i]
        x = torch.randn(2, g, g, CFG["vit_dim"])
        y = blk(x)
        out[f"input.x{i}"], out[f"output.block{i}"] = x, y
        out.weights(blk, f"blocks.{i}.")
        outs.append(y)
    # A grid that is not a multiple of the window: window_partition pads, window_unpartition crops.
    xp = torch.randn(1, g - 2, g + 1, CFG["vit_dim"])
    yp = trunk.blocks[0](xp)
    out["input.x0_padded"], out["output.block0_padded"] = xp, yp
    outs.append(yp)
    backward(out, outs)
    for i in (0, CFG["global_att_blocks"][0]):
        out.grads(trunk.blocks[i], f"blocks.{i}.")


@case
def vit(out):
    trunk = randomize(build_trunk(CFG)).eval()
    x = images(CFG, 2)
    y = trunk(x)[-1]
    out.weights(trunk, "trunk.")
    out["input.images"], out["output.features"] = x, y
    backward(out, [y])
    out.grads(trunk, "trunk.")


@case
def neck(out):
    neck = randomize(build_neck(CFG, sam2=True)).eval()
    x = images(CFG, 2)
    feats, pos, feats2, pos2 = neck(x)
    out.weights(neck, "neck.")
    out["input.images"] = x
    for i, (f, p, f2) in enumerate(zip(feats, pos, feats2)):
        out[f"output.level{i}"], out[f"output.pos{i}"], out[f"output.sam2_level{i}"] = f, p, f2
    backward(out, list(feats) + list(feats2))
    out.grads(neck, "neck.")


@case
def text_encoder(out):
    enc = randomize(build_text(CFG)).eval()
    texts = ["a red car", "person", "the dog on the left, next to a tree", ""]
    tokens = enc.tokenizer(texts, context_length=CFG["text_context_length"])
    mask, memory, embeds = enc(texts, device="cpu")
    out.weights(enc, "text.")
    out["input.tokens"], out["output.mask"], out["output.memory"], out["output.embeds"] = tokens, mask, memory, embeds
    backward(out, [memory])
    out.grads(enc, "text.")


@case
def tokenizer(out):
    from sam3.model.tokenizer_ve import SimpleTokenizer

    tok = SimpleTokenizer(bpe_path=BPE_PATH)
    phrases = [
        "a red car", "Person", "  the   DOG\ton the left,\nnext to a tree!  ", "don't", "it's O'Neil's",
        "we're they've I'm you'll he'd", "café crème brûlée", "naïve façade", "Straße", "Ελληνικά ΟΔΟΣ",
        "日本語のテキスト", "東京タワー", "한국어", "emoji 🐶🚗✨", "😀😃", "“curly quotes” and ‘single’",
        "ﬁne ﬂour", "ＦＵＬＬ　ｗｉｄｔｈ１２３", "ﾊﾝｶｸ", "fish &amp; chips", "a &lt;b&gt; c", "&quot;quoted&quot;",
        "&#39;apos&#39; &#x41;", "&amp;amp;", "AT&T", "&notit; &copy 2024", "x < y && z", "price: $12.50 (approx.)",
        "e-mail: a.b@c.de", "3.14159 and 42", "٣٤ arabic digits", "hello---world...", "tab\tand\u00a0nbsp",
        "C1 \x93control\x94", "zero\u200bwidth", "control\x01char", "line\r\nbreak", "Ǆemal Ĳssel",
        "e\u0301 combining", "mañana", "İstanbul", "a" * 80, "supercalifragilisticexpialidocious",
        "two  words", "", "   ", "<start_of_text>", "1/2 cup", "naïve\u2028café",
    ]
    rows = tok(phrases, context_length=CFG["text_context_length"])
    long = tok(phrases, context_length=77)
    out["output.tokens"] = rows
    out["output.tokens77"] = long
    out["output.num_phrases"] = torch.tensor(len(phrases))
    # The phrases travel as UTF-8 bytes, zero-padded to one row each.
    enc = [p.encode("utf-8") for p in phrases]
    width = max(len(e) for e in enc) + 1
    buf = torch.zeros(len(enc), width, dtype=torch.uint8)
    for i, e in enumerate(enc):
        buf[i, : len(e)] = torch.tensor(list(e), dtype=torch.uint8)
    out["input.phrases_utf8"] = buf


@case
def roi_align(out):
    import torchvision

    feats = torch.randn(2, 5, 9, 11, requires_grad=True)
    boxes = [
        torch.tensor([[0.0, 0.0, 11.0, 9.0], [2.3, 1.7, 7.9, 6.2], [4.0, 4.0, 4.2, 4.1], [-3.0, -2.0, 5.0, 3.0]]),
        torch.tensor([[8.5, 6.5, 14.0, 12.0], [-0.6, -0.9, 0.4, 0.3], [1.0, 2.0, 10.5, 8.5], [10.0, 8.0, 30.0, 25.0],
                      [0.5, 0.5, 40.0, 0.7]]),
    ]
    y = torchvision.ops.roi_align(feats, boxes, 7)
    out["input.features"] = feats
    out["input.boxes"] = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(boxes)])
    out["output.pooled"] = y
    g = torch.randn_like(y)
    (y * g).sum().backward()
    out["input.upstream0"], out["grads.features"] = g, feats.grad


@case
def geometry_encoder(out):
    geo = randomize(build_geometry(CFG)).eval()
    from sam3.model.geometry_encoders import Prompt

    d, bs = CFG["d_model"], 3
    h = w = CFG["resolution"] // CFG["patch_size"]
    boxes = torch.rand(2, bs, 4) * 0.5 + torch.tensor([0.25, 0.25, 0.1, 0.1])
    box_mask = torch.tensor([[False, False], [False, True], [True, True]])
    box_labels = torch.tensor([[1, 0, 1], [1, 1, 0]])
    points = torch.rand(3, bs, 2)
    point_mask = torch.tensor([[False, True, True], [False, False, False], [True, True, True]])
    point_labels = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 1]])
    prompt = Prompt(box_embeddings=boxes, box_mask=box_mask, box_labels=box_labels, point_embeddings=points,
                    point_mask=point_mask, point_labels=point_labels)
    feats = torch.randn(h * w, bs, d)
    pos = torch.randn(h * w, bs, d)
    emb, mask = geo(prompt, [feats], [(h, w)], [pos])
    out.weights(geo, "geo.")
    for k, v in dict(boxes=boxes, box_mask=box_mask, box_labels=box_labels, points=points, point_mask=point_mask,
                     point_labels=point_labels, feats=feats, pos=pos).items():
        out[f"input.{k}"] = v
    out["output.embeds"], out["output.mask"] = emb, mask
    # Padded slots hold whatever the concatenation left there: compare and differentiate valid tokens only.
    valid = (~mask).T[..., None].float()
    out["output.valid"] = valid
    backward(out, [emb * valid])
    out.grads(geo, "geo.")


@case
def fusion_encoder(out):
    enc = randomize(build_fusion_encoder(CFG)).eval()
    d, bs = CFG["d_model"], 2
    h, w = 4, 5
    src = torch.randn(h * w, bs, d)
    pos = torch.randn(h * w, bs, d)
    prompt = torch.randn(6, bs, d)
    mask = torch.tensor([[False] * 6, [False] * 3 + [True] * 3])
    res = enc(src=[src.clone()], src_key_padding_mask=None, src_pos=[pos.clone()], prompt=prompt,
              prompt_pos=torch.zeros_like(prompt), prompt_key_padding_mask=mask, feat_sizes=[(h, w)])
    out.weights(enc, "enc.")
    out["input.src"], out["input.pos"], out["input.prompt"], out["input.mask"] = src, pos, prompt, mask
    out["output.memory"], out["output.pos_embed"] = res["memory"], res["pos_embed"]
    backward(out, [res["memory"]])
    out.grads(enc, "enc.")


@case
def decoder(out):
    dec = randomize(build_decoder(CFG)).eval()
    d, bs = CFG["d_model"], 2
    h, w = 4, 5
    memory = torch.randn(h * w, bs, d)
    pos = torch.randn(h * w, bs, d)
    text = torch.randn(6, bs, d)
    tmask = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    out.weights(dec, "dec.")
    out["input.memory"], out["input.pos"], out["input.text"], out["input.tmask"] = memory, pos, text, tmask
    outs = []
    for dac in (False, True):
        tgt = dec.query_embed.weight.unsqueeze(1).repeat(1, bs, 1)
        hs, refs, pres, feats = dec(tgt=tgt, memory=memory, memory_key_padding_mask=None, pos=pos, reference_boxes=None,
                                    level_start_index=torch.tensor([0]), spatial_shapes=torch.tensor([[h, w]]),
                                    valid_ratios=torch.ones(bs, 1, 2), tgt_mask=None, memory_text=text,
                                    text_attention_mask=tmask, apply_dac=dac)
        tag = "dac" if dac else "plain"
        out[f"output.{tag}_hs"], out[f"output.{tag}_refs"] = hs, refs
        out[f"output.{tag}_presence"], out[f"output.{tag}_feats"] = pres, feats
        outs += [hs, refs, pres]
    backward(out, outs)
    out.grads(dec, "dec.")


@case
def scoring(out):
    sc = randomize(build_scoring(CFG)).eval()
    d = CFG["d_model"]
    hs = torch.randn(2, 3, 5, d)
    prompt = torch.randn(4, 3, d)
    mask = torch.tensor([[False] * 4, [False, False, True, True], [False, True, True, True]])
    y = sc(hs, prompt, mask)
    out.weights(sc, "sc.")
    out["input.hs"], out["input.prompt"], out["input.mask"], out["output.scores"] = hs, prompt, mask, y
    backward(out, [y])
    out.grads(sc, "sc.")


@case
def seg_head(out):
    head = randomize(build_seg_head(CFG)).eval()
    d = CFG["d_model"]
    g = CFG["resolution"] // CFG["patch_size"]
    for n_img, tag in ((2, "multi"), (1, "single")):
        fpn = [torch.randn(n_img, d, 4 * g, 4 * g), torch.randn(n_img, d, 2 * g, 2 * g), torch.randn(n_img, d, g, g)]
        img_ids = torch.tensor([0, n_img - 1, n_img - 1])
        queries = torch.randn(2, 3, 5, d)
        enc = torch.randn(g * g, 3, d)
        prompt = torch.randn(4, 3, d)
        mask = torch.tensor([[False] * 4, [False, False, True, True], [False, True, True, True]])
        res = head(backbone_feats=fpn, obj_queries=queries, image_ids=img_ids, encoder_hidden_states=enc,
                   prompt=prompt, prompt_mask=mask)
        for i, f in enumerate(fpn):
            out[f"input.{tag}_fpn{i}"] = f
        for k, v in dict(img_ids=img_ids, queries=queries, enc=enc, prompt=prompt, mask=mask).items():
            out[f"input.{tag}_{k}"] = v
        out[f"output.{tag}_masks"], out[f"output.{tag}_semantic"] = res["pred_masks"], res["semantic_seg"]
        if tag == "multi":
            backward(out, [res["pred_masks"], res["semantic_seg"]])
    out.weights(head, "seg.")
    out.grads(head, "seg.")


def model_case(out, train):
    from sam3.model.data_misc import FindStage
    from sam3.model.geometry_encoders import Prompt

    model = randomize(build_model(CFG))
    model.train(train)
    n_img, bs = 2, 3
    imgs = images(CFG, n_img)
    texts = ["a red car", "person", "the dog on the left"]
    tokens = model.backbone.language_backbone.tokenizer(texts, context_length=CFG["text_context_length"])
    img_ids, text_ids = torch.tensor([0, 1, 1]), torch.tensor([1, 0, 2])
    boxes = torch.rand(2, bs, 4) * 0.5 + torch.tensor([0.25, 0.25, 0.1, 0.1])
    box_mask = torch.tensor([[True, True], [False, True], [False, False]])
    box_labels = torch.tensor([[1, 1, 0], [1, 1, 1]])
    points = torch.rand(1, bs, 2)
    point_mask = torch.tensor([[True], [True], [False]])
    point_labels = torch.ones(1, bs, dtype=torch.long)
    backbone_out = {"img_batch_all_stages": imgs}
    backbone_out.update(model.backbone.forward_image(imgs))
    backbone_out.update(model.backbone.forward_text(texts, device="cpu"))
    find_input = FindStage(img_ids=img_ids, text_ids=text_ids, input_boxes=boxes, input_boxes_mask=box_mask,
                           input_boxes_label=box_labels, input_points=points, input_points_mask=point_mask)
    prompt = Prompt(box_embeddings=boxes, box_mask=box_mask, box_labels=box_labels, point_embeddings=points,
                    point_mask=point_mask, point_labels=point_labels)
    res = model.forward_grounding(backbone_out=backbone_out, find_input=find_input, find_target=None,
                                  geometric_prompt=prompt)
    out.weights(model)
    for k, v in dict(images=imgs, tokens=tokens, img_ids=img_ids, text_ids=text_ids, boxes=boxes, box_mask=box_mask,
                     box_labels=box_labels, points=points, point_mask=point_mask, point_labels=point_labels).items():
        out[f"input.{k}"] = v
    keys = ["pred_logits", "pred_boxes", "pred_boxes_xyxy", "presence_logit_dec", "pred_masks", "semantic_seg",
            "queries", "encoder_hidden_states"]
    if train:
        keys += ["pred_logits_o2m", "pred_boxes_o2m", "pred_masks_o2m"]
    outs = []
    for k in keys:
        out[f"output.{k}"] = res[k]
        if k not in ("queries", "encoder_hidden_states", "pred_boxes_xyxy"):
            outs.append(res[k])
    for i, aux in enumerate(res.get("aux_outputs", [])):
        for k in ("pred_logits", "pred_boxes", "presence_logit_dec", "pred_logits_o2m", "pred_boxes_o2m"):
            out[f"output.aux{i}_{k}"] = aux[k]
            outs.append(aux[k])
    backward(out, outs)
    out.grads(model)


@case
def model_train(out):
    model_case(out, True)


@case
def model_eval(out):
    model_case(out, False)


def tiny_config():
    """The tiny model of the upstream bench harness: the default arguments of
    shared/bench/upstream-tiny/tiny_builder.py::build_tiny_sam3_image_model, restated here."""
    cfg = dict(CFG)
    cfg.update(resolution=224, pretrain_img_size=336, patch_size=14, vit_dim=64, vit_depth=2, vit_heads=2,
               vit_mlp_ratio=4.625, window_size=8, global_att_blocks=[1], d_model=64, text_width=64, text_layers=1,
               text_heads=2, text_context_length=32, vocab_size=49408, enc_layers=1, dec_layers=2, num_queries=20,
               ffn_dim=128, scoring_mlp_dim=128, geo_layers=1, heads=4, enable_segmentation=True,
               add_sam2_neck=False)
    return cfg


@case
def tiny_builder_names(out):
    """State-dict names and shapes of the tiny model of the upstream bench harness: the default arguments of
    shared/bench/upstream-tiny/tiny_builder.py::build_tiny_sam3_image_model, restated here."""
    model = build_model(tiny_config())
    for i, (k, v) in enumerate(model.state_dict().items()):
        out[f"shape.{k}"] = torch.tensor(list(v.shape), dtype=torch.long)
        out[f"complex.{k}"] = torch.tensor(int(v.is_complex()))
        out[f"index.{k}"] = torch.tensor(i)


@case
def tiny_init_statistics(out):
    """Mean and standard deviation of every parameter of a freshly built (never loaded) tiny model: what
    upstream's module defaults and its own init passes (ViT._init_weights, TransformerWrapper._reset_parameters,
    the decoder's zeroed box head) give a model trained from scratch."""
    model = build_model(tiny_config())
    for k, v in model.state_dict().items():
        if v.is_complex() or not v.is_floating_point():
            continue
        v = v.double()
        out[f"mean.{k}"] = v.mean()
        out[f"std.{k}"] = v.std() if v.numel() > 1 else torch.tensor(0.0, dtype=torch.float64)
        out[f"numel.{k}"] = torch.tensor(v.numel())


def main():
    """CASE may be `all`: then OUT is a directory and every case writes OUT/<case>.safetensors, or
    OUT/<case>.error with the traceback when it fails (one interpreter start for the whole test binary)."""
    global CFG
    name, path = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        import json

        CFG = json.loads(sys.argv[3])
    if name == "all":
        import traceback

        os.makedirs(path, exist_ok=True)
        for case_name, fn in CASES.items():
            torch.manual_seed(0)
            try:
                out = Out()
                fn(out)
                out.save(os.path.join(path, f"{case_name}.safetensors"))
            except Exception:
                with open(os.path.join(path, f"{case_name}.error"), "w") as f:
                    f.write(traceback.format_exc())
        return
    if name not in CASES:
        sys.exit(f"unknown case {name}; known: {sorted(CASES)}")
    out = Out()
    CASES[name](out)
    out.save(path)


if __name__ == "__main__":
    main()
