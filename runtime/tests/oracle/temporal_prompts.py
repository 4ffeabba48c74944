"""Oracle of the temporal training prompts: SAM 2's samplers as shipped in sam3 (`sam3/model/sam3_tracker_utils.py`)
on the masks the Rust test writes, after seeding torch's CPU generator as the Rust side does.

usage: temporal_prompts.py CASE OUT.safetensors IN.safetensors
  IN:  `gt` [B, 1, H, W] bool, `pred` [B, 1, H, W] bool, `seed` [1] int64, `num_pt` [1] int64
  OUT: `errors.points`, `errors.labels` (sample_random_points_from_errors(gt, pred, num_pt)),
       `empty.points`, `empty.labels` (the same with pred None: the first click of a clip),
       `box`, (mask_to_box(gt)), `noisy_box.points`, `noisy_box.labels` (sample_box_points(gt)),
       each sampler called right after torch.manual_seed(seed).
"""
import importlib.util
import os
import sys
import types

import torch
from safetensors.torch import load_file, save_file


def load_tracker_utils():
    """The upstream module by path: importing the `sam3` package would build its whole inference stack (and
    `sam3.model.edt` needs triton, which none of these samplers use)."""
    spec = importlib.util.find_spec("sam3")
    root = os.path.dirname(spec.origin)
    for name in ("sam3", "sam3.model"):
        sys.modules.setdefault(name, types.ModuleType(name))
    edt = types.ModuleType("sam3.model.edt")
    edt.edt_triton = None
    sys.modules["sam3.model.edt"] = edt
    path = os.path.join(root, "model", "sam3_tracker_utils.py")
    module_spec = importlib.util.spec_from_file_location("sam3.model.sam3_tracker_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def main():
    _case, out_path, in_path = sys.argv[1:4]
    utils = load_tracker_utils()
    inputs = load_file(in_path)
    gt, pred = inputs["gt"], inputs["pred"]
    seed, num_pt = int(inputs["seed"][0]), int(inputs["num_pt"][0])
    out = {}
    torch.manual_seed(seed)
    out["errors.points"], out["errors.labels"] = utils.sample_random_points_from_errors(gt, pred, num_pt)
    torch.manual_seed(seed)
    out["empty.points"], out["empty.labels"] = utils.sample_random_points_from_errors(gt, None, 1)
    out["box"] = utils.mask_to_box(gt)
    torch.manual_seed(seed)
    out["noisy_box.points"], out["noisy_box.labels"] = utils.sample_box_points(gt)
    save_file({k: v.contiguous() for k, v in out.items()}, out_path)


if __name__ == "__main__":
    main()
