"""Oracle for the optimizer's parameter groups on the full-size SAM 3 image model: Meta's `construct_optimizer`
(pip sam3==0.1.4) with the `trainer.optim` section of an upstream config, on the model `build_sam3_image_model`
builds on the CPU (random weights; only names and module classes matter).

Usage: optimizer_groups.py CONFIG.yaml BPE_PATH OUT.json
Writes one entry per parameter group: its parameter names (sorted), and its learning rate and weight decay at
schedule factor 1 (the schedulers evaluated at the end of warmup, far from the cooldown).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../runtime/tests/oracle"))
import sam3_cpu  # noqa: F401,E402  (CPU patches for upstream's CUDA-only allocations)
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from sam3.model_builder import build_sam3_image_model  # noqa: E402
from sam3.train.optim.optimizer import construct_optimizer  # noqa: E402
from sam3.train.utils.train_utils import register_omegaconf_resolvers  # noqa: E402

config_path, bpe_path, out_path = sys.argv[1:4]
torch.set_num_threads(1)
register_omegaconf_resolvers()
cfg = OmegaConf.load(config_path)
optim = cfg.trainer.optim
model = build_sam3_image_model(
    bpe_path=bpe_path,
    device="cpu",
    eval_mode=False,
    checkpoint_path=None,
    load_from_HF=False,
    enable_segmentation=bool(cfg.scratch.enable_segmentation),
)
optimizer = construct_optimizer(model, optim.optimizer, optim.options, optim.param_group_modifiers)
names = {id(p): n for n, p in model.named_parameters()}
warmup = int(cfg.scratch.scheduler_warmup)
# At step == warmup the warmup factor is 1 and no decay has started; where = warmup / 1e6 puts the cooldown a
# million steps away: every scheduler gives its base value (times its layer-decay scale). `step_schedulers` is
# what the trainer calls before each step; it writes the values into the torch param groups.
optimizer.step_schedulers(where=warmup / 1e6, step=warmup)
groups = [
    dict(
        params=sorted(names[id(p)] for p in param_group["params"]),
        lr=param_group["lr"],
        weight_decay=param_group["weight_decay"],
    )
    for param_group in optimizer.optimizer.param_groups
]
with open(out_path, "w") as f:
    json.dump(dict(groups=groups, parameters=len(names)), f)
