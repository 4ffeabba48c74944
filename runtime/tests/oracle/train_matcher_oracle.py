"""Oracle for the matchers: runs Meta's sam3 (pip sam3==0.1.4) matchers on seeded inputs.

Usage: train_matcher_oracle.py OUT_DIR
Writes OUT_DIR/assignment.safetensors (cost matrices and upstream `_do_matching` results) and
OUT_DIR/matchers.safetensors + matchers.json (predictions, targets, recorded cost matrices, indices).
"""
import json
import sys

import numpy as np
import torch
from safetensors.torch import save_file

import sam3.train.matcher as matcher_mod
from sam3.model.box_ops import box_cxcywh_to_xyxy, box_iou
from sam3.train.data.collator import packed_to_padded_naive

out_dir = sys.argv[1]
torch.manual_seed(0)
rng = np.random.default_rng(0)

# 1. Assignments from exported cost matrices (float64, as scipy sees them).
assignment = {}
costs = []
for rows, cols in [(8, 3), (3, 8), (5, 5), (12, 12), (200, 4), (1, 1), (4, 9)]:
    costs.append(rng.standard_normal((rows, cols)))
    costs.append(rng.integers(0, 3, size=(rows, cols)).astype(np.float64))  # many ties
    costs.append(5.0 + rng.integers(-1, 2, size=(rows, cols)) * 1e-6)  # near-equal
for k, cost in enumerate(costs):
    rows_sorted_by_target = matcher_mod._do_matching(cost)
    i, j = matcher_mod._do_matching(cost, return_tgt_indices=True)
    assignment[f"{k}.cost"] = torch.from_numpy(cost)
    assignment[f"{k}.sorted_rows"] = torch.from_numpy(np.asarray(rows_sorted_by_target, dtype=np.int64))
    assignment[f"{k}.rows"] = torch.from_numpy(np.asarray(i, dtype=np.int64))
    assignment[f"{k}.cols"] = torch.from_numpy(np.asarray(j, dtype=np.int64))
save_file({k: v.contiguous() for k, v in assignment.items()}, f"{out_dir}/assignment.safetensors")

# 2. Matchers on random predictions. The cost matrices scipy receives are recorded by wrapping it.
recorded = []
scipy_lsa = matcher_mod.linear_sum_assignment


def recording_lsa(cost):
    recorded.append(np.array(cost, dtype=np.float64))
    return scipy_lsa(cost)


matcher_mod.linear_sum_assignment = recording_lsa

cases = [
    # name, num_boxes per find query, queries, hungarian kwargs, one-to-many kwargs
    ("focal", [3, 0, 5, 1], 12, dict(focal=True), dict(topk=4)),
    ("stable", [2, 4, 0], 10, dict(focal=True, stable=True), dict(topk=3)),
    ("plain", [1, 3], 6, dict(focal=False), dict(topk=2, alpha=0.5, threshold=0.2)),
    ("fewer_queries", [2, 6, 1], 4, dict(focal=True), dict(topk=2)),
    ("all_empty", [0, 0], 5, dict(focal=True), dict(topk=2)),
]
tensors = {}
meta = []
for name, num_boxes, queries, hungarian_kwargs, o2m_kwargs in cases:
    batch = len(num_boxes)
    total = sum(num_boxes)
    centers = torch.rand(total, 2) * 0.6 + 0.2
    sizes = torch.rand(total, 2) * 0.35 + 0.05
    boxes = torch.cat([centers, sizes], dim=-1)
    # Predictions near the targets, so that one-to-many scores pass the threshold.
    logits = torch.randn(batch, queries, 1) * 2
    pred_boxes = torch.rand(batch, queries, 4) * 0.5 + 0.2
    offset = 0
    for b, n in enumerate(num_boxes):
        for q in range(min(n * 2, queries)):
            pred_boxes[b, q] = boxes[offset + q % n] + torch.randn(4) * 0.03
        offset += n
    pred_boxes = pred_boxes.clamp(0.01, 0.99)
    num_boxes_t = torch.tensor(num_boxes, dtype=torch.long)
    boxes_padded = packed_to_padded_naive(boxes, num_boxes_t)
    outputs = {"pred_logits": logits, "pred_boxes": pred_boxes}
    targets = {"boxes": boxes, "boxes_padded": boxes_padded, "num_boxes": num_boxes_t}

    hungarian = matcher_mod.BinaryHungarianMatcherV2(
        cost_class=2.0, cost_bbox=5.0, cost_giou=2.0, alpha=0.25, gamma=2.0, **hungarian_kwargs
    )
    recorded.clear()
    batch_idx, src_idx, tgt_idx = hungarian(outputs, targets)
    costs_seen = list(recorded)
    o2m = matcher_mod.BinaryOneToManyMatcher(**{"alpha": 0.3, "threshold": 0.4, **o2m_kwargs})
    o2m_batch, o2m_src, o2m_tgt = o2m(outputs, targets)
    prob = logits.sigmoid().squeeze(-1)
    iou, _ = box_iou(box_cxcywh_to_xyxy(pred_boxes), box_cxcywh_to_xyxy(boxes_padded))
    alpha = o2m.alpha
    scores = alpha * prob.unsqueeze(-1) + (1 - alpha) * iou

    p = f"{name}."
    tensors[p + "pred_logits"] = logits
    tensors[p + "pred_boxes"] = pred_boxes
    tensors[p + "boxes"] = boxes if total else torch.zeros(0, 4)
    tensors[p + "hungarian.batch_idx"] = batch_idx
    tensors[p + "hungarian.src_idx"] = src_idx
    if tgt_idx is not None:
        tensors[p + "hungarian.tgt_idx"] = tgt_idx
    for k, c in enumerate(costs_seen):
        tensors[p + f"hungarian.cost.{k}"] = torch.from_numpy(c)
    tensors[p + "o2m.batch_idx"] = o2m_batch
    tensors[p + "o2m.src_idx"] = o2m_src
    tensors[p + "o2m.tgt_idx"] = o2m_tgt
    tensors[p + "o2m.scores"] = scores
    meta.append(
        dict(
            name=name,
            num_boxes=num_boxes,
            hungarian=dict(hungarian_kwargs),
            o2m={"alpha": 0.3, "threshold": 0.4, **o2m_kwargs},
            costs=len(costs_seen),
            has_tgt_idx=tgt_idx is not None,
        )
    )

save_file({k: v.contiguous() for k, v in tensors.items()}, f"{out_dir}/matchers.safetensors")
with open(f"{out_dir}/matchers.json", "w") as f:
    json.dump({"cases": meta, "assignments": len(costs)}, f)
