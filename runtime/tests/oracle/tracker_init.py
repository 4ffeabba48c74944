"""Oracle for the tracker's initialization: builds the reduced upstream tracker (sizes from the TrackerConfig JSON
the Rust test writes) and never loads or re-randomizes it, then writes `mean.<param>`, `std.<param>` and
`numel.<param>` of every floating tensor of its state dict: what upstream's constructors give a tracker trained
from scratch (the temporal stage's tracker).

usage: tracker_init.py CONFIG_JSON OUT_FILE
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracker_upstream as tu  # noqa: E402

tu.apply_cpu_patches()
torch.manual_seed(0)
model = tu.build_tracker(tu.load_config(sys.argv[1]))
out = {}
for k, v in model.state_dict().items():
    if v.is_complex() or not v.is_floating_point():
        continue
    v = v.double()
    out[f"mean.{k}"] = v.mean().reshape(())
    out[f"std.{k}"] = (v.std() if v.numel() > 1 else torch.tensor(0.0, dtype=torch.float64)).reshape(())
    out[f"numel.{k}"] = torch.tensor(v.numel())
save_file(out, sys.argv[2])
