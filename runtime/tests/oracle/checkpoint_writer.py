"""Oracle for the checkpoint tests: checkpoints written by torch and Meta's sam3 package at reduced size.

usage: checkpoint_writer.py TRACKER_CONFIG_JSON OUT_DIR
  official.pt   the layout of the released sam3.pt: {"model": {"detector.*", "tracker.*"}} (a tiny detector
                backbone with its sam2 neck copy and complex RoPE buffers, and the tiny tracker)
  trainer.pt    an upstream trainer checkpoint, saved by `Trainer._save_checkpoint`: {"model": image-model
                state dict, "optimizer": AdamW state after a step, "epoch", "loss", "steps", "time_elapsed",
                "best_meter_values", "scaler"}
  zoo.pt        a flat dict of every dtype, non-contiguous and storage-sharing views, 0-d and empty tensors,
                an nn.Parameter
  <name>.reference.safetensors   the same tensors, written by the safetensors package (contiguous copies;
                complex128 as view_as_real)
  <name>.manifest.json           names in pickle order, dtype, shape, and the float64 sum of each tensor
"""
import json
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracker_upstream as tu  # noqa: E402

tu.apply_cpu_patches()
torch.manual_seed(0)
cfg = tu.load_config(sys.argv[1])
out_dir = sys.argv[2]


def tiny_detector():
    """The image model's backbone part at the tiny sizes: ViT with RoPE (complex `freqs_cis` buffers) and the
    FPN neck with its `sam2_convs` copy, under the upstream names (`backbone.vision_backbone.*`)."""
    from sam3.model.necks import Sam3DualViTDetNeck
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.vitdet import ViT

    d = cfg["d_model"]
    trunk = ViT(img_size=cfg["image_size"], pretrain_img_size=336, patch_size=14, embed_dim=64, depth=2,
                num_heads=2, mlp_ratio=4.625, norm_layer="LayerNorm", drop_path_rate=0.1, qkv_bias=True,
                use_abs_pos=True, tile_abs_pos=True, global_att_blocks=(1,), rel_pos_blocks=(), use_rope=True,
                use_interp_rope=True, window_size=8, pretrain_use_cls_token=True, retain_cls_token=False,
                ln_pre=True, ln_post=False, return_interm_layers=False, bias_patch_embed=False)
    neck = Sam3DualViTDetNeck(position_encoding=PositionEmbeddingSine(num_pos_feats=d, normalize=True),
                              d_model=d, scale_factors=[4.0, 2.0, 1.0, 0.5], trunk=trunk, add_sam2_neck=True)
    backbone = nn.Module()
    backbone.vision_backbone = neck
    detector = nn.Module()
    detector.backbone = backbone
    return detector


def write(name, obj, tensors):
    """`tensors`: the state-dict part, in pickle order."""
    # The safetensors package has no complex128: those references are stored as (real, imag) float64 pairs.
    ref = {
        k: (torch.view_as_real(v.detach()) if v.dtype == torch.complex128 else v.detach()).clone().contiguous()
        for k, v in tensors.items()
    }
    save_file(ref, os.path.join(out_dir, f"{name}.reference.safetensors"))
    manifest = [
        {"name": k, "dtype": str(v.dtype), "shape": list(v.shape),
         "sum": float(v.detach().to(torch.complex128).abs().sum() if v.is_complex() else v.detach().double().sum())}
        for k, v in tensors.items()
    ]
    with open(os.path.join(out_dir, f"{name}.manifest.json"), "w") as f:
        json.dump(manifest, f)


# The official layout.
detector = tiny_detector()
tracker = tu.build_tracker(cfg)
video = nn.Module()
video.detector = detector
video.tracker = tracker
tu.rerandomize(video)
sd = video.state_dict()
torch.save({"model": sd}, os.path.join(out_dir, "official.pt"))
write("official", None, sd)

# An upstream trainer checkpoint of the image model (here: its backbone), through the trainer's own writer.
from sam3.train.trainer import Trainer  # noqa: E402

image = tiny_detector()
tu.rerandomize(image)
params = list(image.named_parameters())
decay = [p for n, p in params if not n.endswith("bias")]
no_decay = [p for n, p in params if n.endswith("bias")]
optim = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=8e-5)
for p in image.parameters():
    p.grad = torch.randn_like(p)
optim.step()
checkpoint = {
    "model": image.state_dict(),
    "optimizer": optim.state_dict(),
    "epoch": 3,
    "loss": nn.ModuleDict().state_dict(),
    "steps": {"train": 12, "val": 2},
    "time_elapsed": 12.5,
    "best_meter_values": {},
    "scaler": torch.amp.GradScaler("cpu").state_dict(),
}
Trainer._save_checkpoint(None, checkpoint, os.path.join(out_dir, "trainer.pt"))
write("trainer", None, image.state_dict())

# Every dtype and view torch.save may hand us.
base = torch.randn(6, 5)
zoo = {
    "f64": torch.randn(3, 4, dtype=torch.float64),
    "f32": torch.randn(2, 3, 4),
    "f16": torch.randn(7).half(),
    "bf16": torch.randn(4, 2).bfloat16(),
    "i64": torch.randint(-(2**40), 2**40, (5,)),
    "i32": torch.randint(-(2**20), 2**20, (2, 2), dtype=torch.int32),
    "i16": torch.randint(-300, 300, (3,), dtype=torch.int16),
    "i8": torch.randint(-100, 100, (3,), dtype=torch.int8),
    "u8": torch.randint(0, 255, (4,), dtype=torch.uint8),
    "bool": torch.rand(5) > 0.5,
    "c64": torch.randn(3, 2, dtype=torch.complex64),
    "c128": torch.randn(2, dtype=torch.complex128),
    "transposed": base.t(),
    "row_slice": base[2:4],
    "column_slice": base[:, 1:4],
    "strided": base[::2, ::3],
    "base": base,
    "same_tensor_again": base,
    "scalar": torch.tensor(3.5),
    "empty": torch.zeros(0, 3),
    "parameter": nn.Parameter(torch.randn(2, 2)),
    "expanded": torch.randn(3, 1).expand(3, 4),
}
torch.save(zoo, os.path.join(out_dir, "zoo.pt"))
write("zoo", None, zoo)
