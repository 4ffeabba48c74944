"""Oracle for the losses: runs Meta's sam3 (pip sam3==0.1.4) `Sam3LossWrapper` with `Boxes`, `IABCEMdetr`,
`Masks` and `SemanticSegCriterion`, and SAM 2's `MultiStepMultiMasksAndIous` (shipped commented out in sam3's
loss_fns.py, executed here from that source), on seeded random inputs; records every loss value and the gradient
of every differentiable value with respect to every prediction.

The focal loss runs its torch path (`triton=False`); "global" normalization uses a gloo process group of size 1.

Usage: train_loss_oracle.py OUT_DIR
Writes OUT_DIR/cases.json and OUT_DIR/<case>.safetensors.
"""
import functools
import inspect
import json
import os
import sys
import tempfile

import torch
import torch.distributed as dist
from safetensors.torch import save_file

import sam3.train.loss.loss_fns as loss_fns
from sam3.model.box_ops import box_cxcywh_to_xyxy
from sam3.model.model_misc import SAM3Output
from sam3.train.data.collator import packed_to_padded_naive
from sam3.train.loss.sam3_loss import Sam3LossWrapper
from sam3.train.matcher import BinaryHungarianMatcherV2, BinaryOneToManyMatcher

out_dir = sys.argv[1]
torch.set_num_threads(1)
loss_fns.sigmoid_focal_loss = functools.partial(loss_fns.sigmoid_focal_loss, triton=False)

with tempfile.TemporaryDirectory() as pg_dir:
    dist.init_process_group("gloo", init_method=f"file://{pg_dir}/store", rank=0, world_size=1)


def source_of_commented_class(module, name, next_name):
    """The commented-out class `name` of `module` (up to the next commented class), uncommented."""
    lines = inspect.getsource(module).splitlines()
    start = lines.index(f"# class {name}(LossWithWeights):")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(f"# class {next_name}"))
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines[start:end])


namespace = dict(vars(loss_fns))
exec(source_of_commented_class(loss_fns, "MultiStepMultiMasksAndIous", "TextCriterion"), namespace)
MultiStepMultiMasksAndIous = namespace["MultiStepMultiMasksAndIous"]


def hungarian(c):
    return BinaryHungarianMatcherV2(
        cost_class=c["class"], cost_bbox=c["bbox"], cost_giou=c["giou"], focal=c["focal"],
        alpha=c["alpha"], gamma=c["gamma"], stable=c["stable"],
    )


def upstream_loss(config, normalization):
    fns = []
    for term in config["terms"]:
        (kind, c), = term.items()
        if kind == "Boxes":
            fns.append(loss_fns.Boxes(weight_dict={"loss_bbox": c["l1"], "loss_giou": c["giou"]}, compute_aux=c["aux"]))
        elif kind == "Classification":
            fns.append(loss_fns.IABCEMdetr(
                pos_weight=c["pos_weight"], weight_dict={"loss_ce": c["ce"], "presence_loss": c["presence"]},
                compute_aux=c["aux"], gamma=c["gamma"], weak_loss=c["weak"], alpha=c["alpha"],
                pad_n_queries=c["pad_queries"], pad_scale_pos=c["pad_scale_pos"], use_presence=c["use_presence"],
                pos_focal=c["pos_focal"],
            ))
        elif kind == "Masks":
            fns.append(loss_fns.Masks(
                weight_dict={"loss_mask": c["focal"], "loss_dice": c["dice"]}, compute_aux=c["aux"],
                focal_alpha=c["alpha"], focal_gamma=c["gamma"],
            ))
    semantic = None
    if config["semantic"] is not None:
        c = config["semantic"]
        weights = {"loss_semantic_seg": c["seg"]}
        if c["presence_head"]:
            weights["loss_semantic_presence"] = c["presence"]
        weights["loss_semantic_dice"] = c["dice"]
        semantic = loss_fns.SemanticSegCriterion(
            weight_dict=weights, focal=c["focal"], focal_alpha=c["alpha"], focal_gamma=c["gamma"],
            downsample=c["downsample"], presence_head=c["presence_head"], presence_loss=c["presence_loss"],
        )
    return Sam3LossWrapper(
        loss_fns_find=fns, normalization=normalization, matcher=hungarian(config["matcher"]),
        o2m_matcher=BinaryOneToManyMatcher(**config["o2m"]), o2m_weight=config["o2m_weight"],
        use_o2m_matcher_on_o2m_aux=config["o2m_matcher_on_aux"], loss_fn_semantic_seg=semantic,
        normalize_by_stage_num=config["normalize_by_frames"], scale_by_find_batch_size=config["scale_by_batch"],
    )


def terms(boxes=True, classification=None, masks=None):
    out = []
    if boxes:
        out.append({"Boxes": {"l1": 5.0, "giou": 2.0, "aux": True}})
    c = {"ce": 20.0, "presence": 20.0, "pos_weight": 10.0, "alpha": 0.25, "gamma": 2.0, "use_presence": True,
         "pad_queries": 200, "pad_scale_pos": 1.0, "weak": False, "pos_focal": False, "aux": True}
    c.update(classification or {})
    out.append({"Classification": c})
    if masks is not None:
        m = {"focal": 200.0, "dice": 10.0, "alpha": 0.25, "gamma": 2.0, "aux": False}
        m.update(masks)
        out.append({"Masks": m})
    return out


def sam3_config(terms, semantic=None, o2m=None, **flags):
    config = {
        "terms": terms,
        "semantic": semantic,
        "matcher": {"class": 2.0, "bbox": 5.0, "giou": 2.0, "focal": True, "alpha": 0.25, "gamma": 2.0,
                    "stable": False},
        "o2m": {"alpha": 0.3, "threshold": 0.4, "topk": 4, **(o2m or {})},
        "o2m_weight": 2.0,
        "o2m_matcher_on_aux": False,
        "scale_by_batch": True,
        "normalize_by_frames": False,
    }
    config.update(flags)
    return config


SEMANTIC = {"seg": 20.0, "dice": 30.0, "presence": 1.0, "focal": True, "alpha": 0.6, "gamma": 2.0,
            "downsample": False, "presence_head": True, "presence_loss": True}

DETECTION_CASES = [
    # The roboflow / ODinW configuration: boxes and classification, one-to-many queries, two auxiliary layers.
    # With a first stage (keys `_fs`).
    dict(name="boxes_and_classification", normalization="global", queries=10, aux_layers=2, masks=False,
         first_stage=True, stages=[[3, 1, 0, 2]], config=sam3_config(terms())),
    # Segmentation: masks (also on the one-to-many queries), the semantic criterion with a presence head, weak
    # loss, focal positives, two find stages normalized by their number (the second with two interactive
    # steps), the one-to-many matcher on aux layers.
    dict(name="segmentation_two_stages", normalization="local", queries=8, aux_layers=1, masks=True,
         stages=[[2, 0, 3], [1, 2, 0]], steps=[1, 2],
         config=sam3_config(terms(classification={"weak": True, "pos_focal": True, "pos_weight": 5.0,
                                                  "pad_scale_pos": 0.5},
                                  masks={}),
                            semantic=SEMANTIC, o2m_matcher_on_aux=True, normalize_by_frames=True,
                            scale_by_batch=False)),
    # Fewer queries than targets (explicit target indices), BCE semantic loss on downsampled targets without a
    # presence head, no padding normalization reached, no presence supervision.
    dict(name="fewer_queries_bce_semantic", normalization="local", queries=3, aux_layers=1, masks=True,
         stages=[[5, 1]],
         config=sam3_config(terms(classification={"use_presence": False, "pad_queries": 2}, masks={}),
                            semantic={**SEMANTIC, "focal": False, "downsample": True, "presence_head": False},
                            o2m={"topk": 2})),
    # Semantic masks given with the targets (instead of the union of instance masks), BCE with a presence head
    # whose presence loss is off; no auxiliary layers.
    dict(name="given_semantic_masks", normalization="none", queries=6, aux_layers=0, masks=True,
         semantic_masks=True, stages=[[1, 0, 2]],
         config=sam3_config(terms(masks={"dice": 5.0}),
                            semantic={**SEMANTIC, "focal": False, "presence_loss": False})),
]

TRACKER_CASES = [
    dict(name="tracker_sam2_config", frames=3, objects=2, multimask=3, steps=[2, 1, 1],
         config={"weight_mask": 20.0, "weight_dice": 1.0, "weight_iou": 1.0, "weight_class": 1.0,
                 "focal_alpha": 0.25, "focal_gamma": 2.0, "supervise_all_iou": True, "iou_use_l1_loss": True,
                 "pred_obj_scores": True, "focal_alpha_obj_score": -1.0, "focal_gamma_obj_score": 0.0}),
    dict(name="tracker_single_mask_mse", frames=2, objects=3, multimask=1, steps=[1, 2],
         config={"weight_mask": 20.0, "weight_dice": 1.0, "weight_iou": 1.0, "weight_class": 0.0,
                 "focal_alpha": 0.25, "focal_gamma": 2.0, "supervise_all_iou": False, "iou_use_l1_loss": False,
                 "pred_obj_scores": False, "focal_alpha_obj_score": -1.0, "focal_gamma_obj_score": 0.0}),
    dict(name="tracker_best_iou_only", frames=1, objects=2, multimask=3, steps=[3],
         config={"weight_mask": 20.0, "weight_dice": 1.0, "weight_iou": 1.0, "weight_class": 1.0,
                 "focal_alpha": 0.25, "focal_gamma": 2.0, "supervise_all_iou": False, "iou_use_l1_loss": False,
                 "pred_obj_scores": True, "focal_alpha_obj_score": 0.25, "focal_gamma_obj_score": 2.0}),
]

MASK_SIZE, TARGET_SIZE = 8, 24


def rectangle_masks(boxes, size):
    ys = (torch.arange(size) + 0.5) / size
    x0, y0, x1, y1 = box_cxcywh_to_xyxy(boxes).unbind(-1)
    inside_x = (ys[None, :] >= x0[:, None]) & (ys[None, :] <= x1[:, None])
    inside_y = (ys[None, :] >= y0[:, None]) & (ys[None, :] <= y1[:, None])
    return inside_y[:, :, None] & inside_x[:, None, :]


def make_stage(prefix, num_boxes, queries, aux_layers, with_masks, first_stage, semantic_masks, steps, leaves,
               tensors):
    """Targets of one find stage and the outputs of its `steps` steps (leaves of step k > 0 get `k{k}.`)."""
    batch, total = len(num_boxes), sum(num_boxes)
    centers = torch.rand(total, 2) * 0.6 + 0.2
    sizes = torch.rand(total, 2) * 0.35 + 0.05
    boxes = torch.cat([centers, sizes], dim=-1)
    object_ids = torch.arange(total)
    # The single box of the last find query with exactly one box belongs to an invisible object: a negative
    # prompt for the presence supervision although it has a box.
    ones = [b for b, n in enumerate(num_boxes) if n == 1]
    if ones:
        object_ids[sum(num_boxes[: ones[-1]])] = -1
    is_exhaustive = torch.rand(batch) > 0.4
    num_boxes_t = torch.tensor(num_boxes, dtype=torch.long)
    targets = {
        "boxes": boxes,
        "boxes_xyxy": box_cxcywh_to_xyxy(boxes),
        "boxes_padded": packed_to_padded_naive(boxes, num_boxes_t),
        "num_boxes": num_boxes_t,
        "object_ids_padded": packed_to_padded_naive(object_ids, num_boxes_t, fill_value=-1),
        "is_exhaustive": is_exhaustive,
        "masks": None,
        "is_valid_mask": None,
        "semantic_masks": None,
    }
    tensors[f"{prefix}t.boxes"] = boxes
    tensors[f"{prefix}t.object_ids"] = object_ids
    tensors[f"{prefix}t.is_exhaustive"] = is_exhaustive
    if with_masks:
        masks = rectangle_masks(boxes, TARGET_SIZE)
        is_valid = torch.ones(total, dtype=torch.bool)
        if total > 2:
            is_valid[1] = False
        targets["masks"], targets["is_valid_mask"] = masks, is_valid
        tensors[f"{prefix}t.masks"] = masks
        tensors[f"{prefix}t.is_valid_mask"] = is_valid
    if semantic_masks:
        semantic = torch.rand(batch, TARGET_SIZE, TARGET_SIZE) > 0.7
        semantic[1] = False  # a negative image
        targets["semantic_masks"] = semantic
        tensors[f"{prefix}t.semantic_masks"] = semantic

    step_prefix = prefix

    def leaf(name, tensor):
        tensor = tensor.detach().clone().requires_grad_(True)
        leaves[step_prefix + name] = tensor
        return tensor

    def layer(name, o2m_masks):
        logits = torch.randn(batch, queries, 1) * 2
        pred_boxes = torch.rand(batch, queries, 4) * 0.5 + 0.2
        offset = 0
        for b, n in enumerate(num_boxes):  # some predictions near targets, so that matches are meaningful
            for q in range(min(2 * n, queries)):
                pred_boxes[b, q] = boxes[offset + q % n] + torch.randn(4) * 0.03
            offset += n
        out = {}
        for suffix in ["", "_o2m"]:
            out["pred_logits" + suffix] = leaf(f"{name}.pred_logits{suffix}", logits + 0.5 * torch.randn_like(logits))
            out["pred_boxes" + suffix] = leaf(f"{name}.pred_boxes{suffix}", pred_boxes.clamp(0.02, 0.98))
            out["pred_boxes_xyxy" + suffix] = box_cxcywh_to_xyxy(out["pred_boxes" + suffix])
            if with_masks and (suffix == "" or o2m_masks):
                out["pred_masks" + suffix] = leaf(f"{name}.pred_masks{suffix}",
                                                  torch.randn(batch, queries, MASK_SIZE, MASK_SIZE) * 2)
        out["presence_logit_dec"] = leaf(f"{name}.presence_logit_dec", torch.randn(batch, 1) * 2)
        return out

    model_matcher = BinaryHungarianMatcherV2(focal=True, cost_class=2.0, cost_bbox=5.0, cost_giou=2.0,
                                             alpha=0.25, gamma=2, stable=False)
    outs = []
    for k in range(steps):
        step_prefix = prefix if k == 0 else f"{prefix}k{k}."
        out = layer("main", o2m_masks=True)
        out["aux_outputs"] = [layer(f"aux{i}", o2m_masks=False) for i in range(aux_layers)]
        if first_stage:
            out["first_stage"] = layer("fs", o2m_masks=False)
        if with_masks:
            out["semantic_seg"] = leaf("semantic_seg", torch.randn(batch, 1, MASK_SIZE, MASK_SIZE) * 2)
            out["presence_logit"] = leaf("presence_logit", torch.randn(batch, 1) * 2)
        out["indices"] = model_matcher(out, targets)
        for aux in out["aux_outputs"] + ([out["first_stage"]] if first_stage else []):
            aux["indices"] = model_matcher(aux, targets)
        outs.append(out)
    return outs, targets


def record(losses, leaves, tensors):
    for key, value in losses.items():
        tensors[f"out.{key}"] = value.detach().reshape(())
        if not (torch.is_tensor(value) and value.requires_grad):
            continue
        grads = torch.autograd.grad(value, list(leaves.values()), retain_graph=True, allow_unused=True)
        for name, grad in zip(leaves, grads):
            if grad is not None:
                tensors[f"grad.{key}.{name}"] = grad


cases = []
for seed, case in enumerate(DETECTION_CASES):
    torch.manual_seed(100 + seed)
    leaves, tensors = {}, {}
    stages, targets = [], []
    steps = case.get("steps", [1] * len(case["stages"]))
    for s, num_boxes in enumerate(case["stages"]):
        outs, tgt = make_stage(f"s{s}.", num_boxes, case["queries"], case["aux_layers"], case["masks"],
                               case.get("first_stage", False), case.get("semantic_masks", False), steps[s],
                               leaves, tensors)
        stages.append(outs)
        targets.append(tgt)
    loss = upstream_loss(case["config"], case["normalization"])
    losses = loss(SAM3Output(stages), targets)
    record(losses, leaves, tensors)
    tensors.update({f"in.{k}": v.detach() for k, v in leaves.items()})
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, f"{case['name']}.safetensors"))
    cases.append({k: case[k] for k in ["name", "normalization", "queries", "aux_layers", "masks", "stages", "config"]}
                 | {"kind": "detection", "keys": sorted(losses), "first_stage": case.get("first_stage", False),
                    "steps": steps})

for seed, case in enumerate(TRACKER_CASES):
    torch.manual_seed(200 + seed)
    n, m = case["objects"], case["multimask"]
    targets = torch.rand(case["frames"], n, 1, 1) > -1
    targets = (torch.rand(case["frames"], n, TARGET_SIZE, TARGET_SIZE) > 0.6) & targets
    targets[0, n - 1] = False  # an absent object: no mask, dice or IoU loss, and a negative object score
    leaves, tensors, frames = {}, {}, []
    for f, steps in enumerate(case["steps"]):
        frame = {"multistep_pred_multimasks_high_res": [], "multistep_pred_ious": [],
                 "multistep_object_score_logits": []}
        for s in range(steps):
            for key, shape in [("multistep_pred_multimasks_high_res", (n, m, TARGET_SIZE, TARGET_SIZE)),
                               ("multistep_pred_ious", (n, m)), ("multistep_object_score_logits", (n, 1))]:
                value = (torch.randn(shape) * 2 if key != "multistep_pred_ious" else torch.rand(shape))
                value = value.requires_grad_(True)
                leaves[f"f{f}.{key}.{s}"] = value
                frame[key].append(value)
        frames.append(frame)
    c = case["config"]
    criterion = MultiStepMultiMasksAndIous(
        weight_dict={"loss_mask": c["weight_mask"], "loss_dice": c["weight_dice"], "loss_iou": c["weight_iou"],
                     "loss_class": c["weight_class"]},
        focal_alpha=c["focal_alpha"], focal_gamma=c["focal_gamma"], supervise_all_iou=c["supervise_all_iou"],
        iou_use_l1_loss=c["iou_use_l1_loss"], pred_obj_scores=c["pred_obj_scores"],
        focal_gamma_obj_score=c["focal_gamma_obj_score"], focal_alpha_obj_score=c["focal_alpha_obj_score"],
    )
    # SAM 2's MultiStepMultiMasksAndIous.forward: normalize by the number of objects, sum the frames.
    num_objects = torch.clamp(torch.tensor(float(n)) / dist.get_world_size(), min=1).item()
    losses = {}
    for f, frame in enumerate(frames):
        frame_targets = {"masks": targets[f], "is_valid_mask": torch.ones(n, dtype=torch.bool)}
        cur = criterion.get_loss(frame, frame_targets, None, num_objects)
        cur[loss_fns.CORE_LOSS_KEY] = criterion.reduce_loss(cur)
        for k, v in cur.items():
            losses[k] = losses[k] + v if k in losses else v
    record(losses, leaves, tensors)
    tensors.update({f"in.{k}": v.detach() for k, v in leaves.items()})
    tensors["targets"] = targets
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, f"{case['name']}.safetensors"))
    cases.append({k: case[k] for k in ["name", "frames", "objects", "multimask", "steps", "config"]}
                 | {"kind": "tracker", "keys": sorted(losses)})

dist.destroy_process_group()
with open(os.path.join(out_dir, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
