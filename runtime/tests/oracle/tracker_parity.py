"""Oracle for the tracker parity tests: runs the reduced upstream tracker (same classes as `build_tracker`, sizes
from the TrackerConfig JSON the Rust test writes) block by block and over a short clip, in eval and in training,
and writes weights, inputs, outputs and gradients as safetensors.

usage: tracker_parity.py CONFIG_JSON OUT_DIR
  OUT_DIR/blocks.safetensors   per-block tests: `<block>.in.*`, `<block>.out.*`, `<block>.up.*` (the gradient
                               fed back to each output), `<block>.grad.<param>`
  OUT_DIR/clip.safetensors     `in.*` clip inputs, `eval.f<t>.*` per-frame outputs in eval,
                               `train.out.f<t>.*`, `train.up.f<t>.*`, `train.grad.<param>` in training
  both files: `weights.<param>` (the tracker's state dict)
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracker_upstream as tu  # noqa: E402

tu.apply_cpu_patches()
torch.manual_seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

cfg = tu.load_config(sys.argv[1])
out_dir = sys.argv[2]
model = tu.build_tracker(cfg)
tu.rerandomize(model)
weights = {f"weights.{k}": v.detach().clone() for k, v in model.state_dict().items()}
params = dict(model.named_parameters())

d, mem_dim = cfg["d_model"], cfg["mem_dim"]
f = cfg["image_size"] // cfg["backbone_stride"]
S = cfg["image_size"]
B = 2


def backprop(prefix, outputs, store):
    """Feeds a fixed random gradient to every output; stores outputs, those gradients and parameter grads."""
    model.zero_grad(set_to_none=True)
    loss = 0
    for name, t in outputs.items():
        up = torch.randn_like(t)
        store[f"{prefix}.out.{name}"] = t.detach().clone()
        store[f"{prefix}.up.{name}"] = up
        if t.requires_grad:
            loss = loss + (t * up).sum()
    loss.backward()
    for name, p in params.items():
        if p.grad is not None:
            store[f"{prefix}.grad.{name}"] = p.grad.detach().clone()


def inputs(prefix, store, **tensors):
    for k, v in tensors.items():
        store[f"{prefix}.in.{k}"] = v
    return tensors


blocks = {}

# Memory encoder: mask logits at image size (resized to interpol_size), sigmoid inside.
model.eval()
x = inputs("memenc", blocks, pix_feat=torch.randn(B, d, f, f), masks=torch.randn(B, 1, S, S) * 4)
out = model.maskmem_backbone(x["pix_feat"], x["masks"], skip_mask_sigmoid=False)
backprop("memenc", {"features": out["vision_features"], "pos_enc": out["vision_pos_enc"][0]}, blocks)

# One memory-attention layer: 2 memory frames and 2 object pointers of d/mem_dim tokens each (no RoPE on them).
n_ptr = 2 * (d // mem_dim)
m_len = 2 * f * f + n_ptr
x = inputs(
    "malayer",
    blocks,
    tgt=torch.randn(B, f * f, d),
    memory=torch.randn(B, m_len, mem_dim),
    memory_pos=torch.randn(B, m_len, mem_dim),
)
layer = model.transformer.encoder.layers[0]
y = layer(x["tgt"], x["memory"], dac=False, pos=x["memory_pos"], query_pos=None, num_k_exclude_rope=n_ptr)
backprop("malayer", {"y": y}, blocks)

# The whole memory attention (sequence-first upstream; the files hold batch-first tensors).
x = inputs(
    "maenc",
    blocks,
    src=torch.randn(B, f * f, d),
    src_pos=torch.randn(B, f * f, d),
    memory=torch.randn(B, m_len, mem_dim),
    memory_pos=torch.randn(B, m_len, mem_dim),
)
enc = model.transformer.encoder(
    src=[x["src"].transpose(0, 1)],
    src_key_padding_mask=[None],
    src_pos=[x["src_pos"].transpose(0, 1)],
    prompt=x["memory"].transpose(0, 1),
    prompt_pos=x["memory_pos"].transpose(0, 1),
    feat_sizes=[(f, f)],
    num_obj_ptr_tokens=n_ptr,
)
backprop("maenc", {"y": enc["memory"].transpose(0, 1)}, blocks)

# Prompt encoder: points of every label with boxes and a mask; points alone (padded) without a mask.
x = inputs(
    "prompt",
    blocks,
    coords=torch.rand(B, 3, 2) * S,
    labels=torch.tensor([[1, 0, -1], [2, 3, 1]], dtype=torch.int32),
    boxes=torch.sort(torch.rand(B, 2, 2) * S, dim=1).values.reshape(B, 4),
    masks=torch.randn(B, 1, 4 * f, 4 * f),
)
pe = model.sam_prompt_encoder
sparse, dense = pe((x["coords"], x["labels"]), x["boxes"], x["masks"])
sparse2, dense2 = pe((x["coords"], x["labels"]), None, None)
backprop(
    "prompt",
    {"sparse": sparse, "dense": dense, "sparse_pad": sparse2, "dense_none": dense2, "dense_pe": pe.get_dense_pe()},
    blocks,
)

# Two-way transformer.
x = inputs(
    "twoway",
    blocks,
    image=torch.randn(B, d, f, f),
    image_pe=torch.randn(B, d, f, f),
    tokens=torch.randn(B, 7, d),
)
q, k = model.sam_mask_decoder.transformer(x["image"], x["image_pe"], x["tokens"])
backprop("twoway", {"queries": q, "keys": k}, blocks)

# Mask decoder: multimask, single mask with the dynamic fallback (eval), single mask in training.
x = inputs(
    "maskdec",
    blocks,
    image=torch.randn(B, d, f, f),
    image_pe=torch.randn(1, d, f, f),
    sparse=torch.randn(B, 3, d),
    dense=torch.randn(B, d, f, f),
    s0=torch.randn(B, d // 8, 4 * f, 4 * f),
    s1=torch.randn(B, d // 4, 2 * f, 2 * f),
)
for mode, multimask, train in [("multi", True, False), ("single", False, False), ("single_train", False, True)]:
    model.train(train)
    masks, iou, tokens, obj = model.sam_mask_decoder(
        image_embeddings=x["image"],
        image_pe=x["image_pe"],
        sparse_prompt_embeddings=x["sparse"],
        dense_prompt_embeddings=x["dense"],
        multimask_output=multimask,
        repeat_image=False,
        high_res_features=[x["s0"], x["s1"]],
    )
    backprop(f"maskdec_{mode}", {"masks": masks, "iou": iou, "tokens": tokens, "obj": obj}, blocks)
model.eval()
# The state-dict order (the file is sorted) and the class of the module owning each entry.
owners = {}
for mod_name, mod in model.named_modules():
    for p_name, _ in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False)):
        owners[f"{mod_name}.{p_name}" if mod_name else p_name] = f"{type(mod).__module__}.{type(mod).__qualname__}"
SD_ORDER = {
    "state_dict_order": json.dumps(list(model.state_dict().keys())),
    "module_classes": json.dumps(owners),
}
save_file(
    {k: v.contiguous() for k, v in {**weights, **blocks}.items()},
    os.path.join(out_dir, "blocks.safetensors"),
    metadata=SD_ORDER,
)

# A clip: conditioning frames 0 (one click), 3 (mask), 5 (a box as two corner points) processed first, then
# frames 1, 2, 4, 6 tracked from memory, as `forward_tracking` orders them.
NUM_FRAMES = 7
COND = [0, 3, 5]
ORDER = COND + [t for t in range(NUM_FRAMES) if t not in COND]
clip = {}
for t in range(NUM_FRAMES):
    clip[f"in.f{t}.l0"] = torch.randn(B, d, 4 * f, 4 * f)
    clip[f"in.f{t}.l1"] = torch.randn(B, d, 2 * f, 2 * f)
    clip[f"in.f{t}.l2"] = torch.randn(B, d, f, f)
    clip[f"in.f{t}.pos"] = torch.randn(B, d, f, f)
clip["in.f0.coords"] = torch.rand(B, 1, 2) * S
clip["in.f0.labels"] = torch.ones(B, 1, dtype=torch.int32)
clip["in.f3.mask"] = (torch.rand(B, 1, S, S) > 0.6).float()
clip["in.f3.mask"][1] = 0.0  # an empty mask: the object is absent on that frame
clip["in.f5.coords"] = torch.sort(torch.rand(B, 2, 2) * S, dim=1).values
clip["in.f5.labels"] = torch.tensor([[2, 3], [2, 3]], dtype=torch.int32)

recorded = {}
orig_heads, orig_mask_out = model._forward_sam_heads, model._use_mask_as_output
depth = [0]


def heads(*a, **k):
    r = orig_heads(*a, **k)
    if depth[0] == 0:
        recorded["sam"] = r
    return r


def mask_out(*a, **k):
    depth[0] += 1
    try:
        r = orig_mask_out(*a, **k)
    finally:
        depth[0] -= 1
    recorded["sam"] = r
    return r


model._forward_sam_heads, model._use_mask_as_output = heads, mask_out


def run_clip(prefix, train, use_memory_selection):
    model.train(train)
    model.use_memory_selection = use_memory_selection
    output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
    outs = {}
    for t in ORDER:
        l0 = model.sam_mask_decoder.conv_s0(clip[f"in.f{t}.l0"])
        l1 = model.sam_mask_decoder.conv_s1(clip[f"in.f{t}.l1"])
        levels = [l0, l1, clip[f"in.f{t}.l2"]]
        feats = [x.flatten(2).permute(2, 0, 1) for x in levels]
        pos = [None, None, clip[f"in.f{t}.pos"].flatten(2).permute(2, 0, 1)]
        points = None
        if f"in.f{t}.coords" in clip:
            points = {"point_coords": clip[f"in.f{t}.coords"], "point_labels": clip[f"in.f{t}.labels"]}
        out = model.track_step(
            frame_idx=t,
            is_init_cond_frame=t in COND,
            current_vision_feats=feats,
            current_vision_pos_embeds=pos,
            feat_sizes=[(4 * f, 4 * f), (2 * f, 2 * f), (f, f)],
            image=None,
            point_inputs=points,
            mask_inputs=clip.get(f"in.f{t}.mask"),
            output_dict=output_dict,
            num_frames=NUM_FRAMES,
        )
        (output_dict["cond_frame_outputs"] if t in COND else output_dict["non_cond_frame_outputs"])[t] = out
        low_multi, _, ious, low, high, obj_ptr, obj_score = recorded.pop("sam")
        o = {
            "pred_masks": low,
            "pred_masks_high_res": high,
            "multimasks": low_multi,
            "ious": ious,
            "obj_ptr": obj_ptr,
            "object_score_logits": obj_score,
            "maskmem_features": out["maskmem_features"],
            "maskmem_pos_enc": out["maskmem_pos_enc"][0],
        }
        if "eff_iou_score" in out:
            o["eff_iou_score"] = out["eff_iou_score"].reshape(1)
        for k, v in o.items():
            outs[f"{prefix}.f{t}.{k}"] = v
    return outs


with torch.no_grad():
    for k, v in run_clip("eval", train=False, use_memory_selection=True).items():
        clip[k] = v.clone()
outs = run_clip("train", train=True, use_memory_selection=False)
model.zero_grad(set_to_none=True)
loss = 0
for k, v in outs.items():
    up = torch.randn_like(v)
    clip[k.replace("train.", "train.out.", 1)] = v.detach().clone()
    clip[k.replace("train.", "train.up.", 1)] = up
    loss = loss + (v * up).sum()
loss.backward()
for name, p in params.items():
    if p.grad is not None:
        clip[f"train.grad.{name}"] = p.grad.detach().clone()
save_file(
    {**weights, **{k: v.contiguous() for k, v in clip.items()}},
    os.path.join(out_dir, "clip.safetensors"),
    metadata=SD_ORDER,
)
