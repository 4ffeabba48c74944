"""Oracle for the optimizer and the schedules: Meta's sam3 (pip sam3==0.1.4) InverseSquareRootParamScheduler,
fvcore's cosine schedule, and torch.optim.AdamW with parameter groups + torch.nn.utils.clip_grad_norm_.

Usage: train_optim_oracle.py OUT_DIR
Writes OUT_DIR/schedules.json + schedules.safetensors and OUT_DIR/adamw.json + adamw.safetensors. Numbers that
are compared exactly travel as float64 tensors (JSON float parsing need not round-trip).
"""
import json
import os
import sys

import torch
from fvcore.common.param_scheduler import CompositeParamScheduler, CosineParamScheduler, LinearParamScheduler
from safetensors.torch import save_file

from sam3.train.optim.optimizer import ValueScaler
from sam3.train.optim.schedulers import InverseSquareRootParamScheduler

out_dir = sys.argv[1]
torch.set_num_threads(1)

# 1. Schedules.
schedules = {"inverse_sqrt": [], "inverse_sqrt_trainer": [], "cosine": []}
schedule_values = {}
for base_lr, warmup, timescale, cooldown, total in [
    (8e-5, 20, 20, 20, 1000),
    (1.0, 0, 10, 0, 100),
    (1e-3, 5, 3, 7, 50),
    (2.5e-4, 0, 20, 10, 60),
]:
    sched = InverseSquareRootParamScheduler(base_lr=base_lr, warmup_steps=warmup, cooldown_steps=cooldown,
                                            timescale=timescale)
    values = [sched(step=step, where=step / total) for step in range(total)]
    schedule_values[f"inverse_sqrt.{len(schedules['inverse_sqrt'])}"] = torch.tensor(values, dtype=torch.float64)
    schedules["inverse_sqrt"].append(dict(base_lr=base_lr, warmup=warmup, timescale=timescale, cooldown=cooldown,
                                          total=total))
# What upstream's trainer passes: where = (epoch + i / iters) / max_epochs, step = int(exact_epoch * iters).
max_epochs, iters = 4, 7
sched = InverseSquareRootParamScheduler(base_lr=8e-5, warmup_steps=5, cooldown_steps=6, timescale=4)
calls = []
for epoch in range(max_epochs):
    for i in range(iters):
        exact_epoch = epoch + float(i) / iters
        where = float(exact_epoch) / max_epochs
        step = int(exact_epoch * iters)
        calls.append(dict(epoch=epoch, iter=i, step=step))
        schedule_values[f"trainer.{len(calls) - 1}"] = torch.tensor(sched(step=step, where=where), dtype=torch.float64)
schedules["inverse_sqrt_trainer"] = dict(base_lr=8e-5, warmup=5, timescale=4, cooldown=6, max_epochs=max_epochs,
                                         iters_per_epoch=iters, calls=calls)
for base_lr, warmup, final_scale, total in [(1e-3, 10, 0.0, 100), (5e-4, 0, 0.1, 40), (1.0, 3, 0.5, 9)]:
    parts, lengths = [], []
    if warmup:
        parts.append(LinearParamScheduler(0.0, base_lr))
        lengths.append(warmup / total)
    parts.append(CosineParamScheduler(base_lr, base_lr * final_scale))
    lengths.append(1.0 - sum(lengths))
    sched = CompositeParamScheduler(parts, lengths=lengths, interval_scaling=["rescaled"] * len(parts))
    values = [sched(step / total) for step in range(total)]
    schedule_values[f"cosine.{len(schedules['cosine'])}"] = torch.tensor(values, dtype=torch.float64)
    schedules["cosine"].append(dict(base_lr=base_lr, warmup=warmup, final_scale=final_scale, total=total))
with open(os.path.join(out_dir, "schedules.json"), "w") as f:
    json.dump(schedules, f)
save_file(schedule_values, os.path.join(out_dir, "schedules.safetensors"))

# 2. AdamW with three parameter groups, a schedule, gradient clipping, a frozen parameter and a parameter that
# only gets a gradient in some steps (set_to_none zero_grad, as upstream).
torch.manual_seed(7)
shapes = {
    "backbone.blocks.0.weight": (6, 5),
    "backbone.blocks.0.bias": (5,),
    "backbone.sometimes.weight": (4,),
    "head.weight": (3, 6),
    "head.bias": (3,),
    "frozen.weight": (4,),
}
params = {n: torch.randn(s, requires_grad=(n != "frozen.weight")) for n, s in shapes.items()}
groups = [
    dict(params=["backbone.blocks.0.weight", "backbone.sometimes.weight"], lr=1e-2, lr_scale=0.5, weight_decay=0.1),
    dict(params=["head.weight"], lr=3e-3, lr_scale=1.0, weight_decay=0.05),
    dict(params=["backbone.blocks.0.bias", "head.bias"], lr=3e-3, lr_scale=1.0, weight_decay=0.0),
]
schedule = dict(warmup=2, timescale=3, cooldown=2)
total_steps, max_norm = 8, 0.5
grad_scales = [0.1, 2.0, 0.05, 1.0, 0.3, 3.0, 0.7, 1.5]
sometimes_steps = {1, 3, 6}

tensors = {f"init.{n}": p.detach().clone() for n, p in params.items()}
optimizer = torch.optim.AdamW(
    [{"params": [params[n] for n in g["params"]], "lr": g["lr"], "weight_decay": g["weight_decay"]} for g in groups],
    betas=(0.9, 0.999), eps=1e-8,
)
schedulers = [
    ValueScaler(InverseSquareRootParamScheduler(base_lr=g["lr"], warmup_steps=schedule["warmup"],
                                                cooldown_steps=schedule["cooldown"],
                                                timescale=schedule["timescale"]), g["lr_scale"])
    for g in groups
]
trainable = [p for p in params.values() if p.requires_grad]
norms, lrs = [], []
for step in range(total_steps):
    optimizer.zero_grad(set_to_none=True)
    for name, p in params.items():
        if not p.requires_grad or (name == "backbone.sometimes.weight" and step not in sometimes_steps):
            continue
        grad = torch.randn(p.shape) * grad_scales[step]
        tensors[f"grad{step}.{name}"] = grad
        p.grad = grad.clone()
    for group, sched in zip(optimizer.param_groups, schedulers):
        group["lr"] = sched(step=step, where=step / total_steps)
    lrs.append([g["lr"] for g in optimizer.param_groups])
    norms.append(torch.nn.utils.clip_grad_norm_(trainable, max_norm=max_norm, norm_type=2).item())
    optimizer.step()
    tensors[f"lrs{step}"] = torch.tensor(lrs[-1], dtype=torch.float64)
    tensors[f"norm{step}"] = torch.tensor(norms[-1], dtype=torch.float64)
    for name, p in params.items():
        tensors[f"after{step}.{name}"] = p.detach().clone()
for name, p in params.items():
    if p in optimizer.state:
        state = optimizer.state[p]
        tensors[f"state.exp_avg.{name}"] = state["exp_avg"]
        tensors[f"state.exp_avg_sq.{name}"] = state["exp_avg_sq"]
        tensors[f"state.step.{name}"] = state["step"]
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "adamw.safetensors"))
with open(os.path.join(out_dir, "adamw.json"), "w") as f:
    json.dump(dict(groups=groups, schedule=schedule, total_steps=total_steps, max_norm=max_norm,
                   params=list(shapes), frozen=["frozen.weight"]), f)
