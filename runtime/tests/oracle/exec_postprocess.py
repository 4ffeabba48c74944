"""Upstream's PostProcessImage (sam3 0.1.4) on seeded random outputs: the oracle of runtime/tests/exec_postprocess.rs.
usage: exec_postprocess.py OUT_DIR
Writes OUT_DIR/inputs.safetensors (the outputs given to both sides) and OUT_DIR/expected.json (per image, per kept
query: slot, score, box xyxy at the original size, mask RLE counts)."""
import json, os, sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
import sam3_cpu  # noqa: F401  (CPU patches for importing sam3 without CUDA)
from sam3.eval.postprocessors import PostProcessImage
from sam3.model import box_ops

out_dir = sys.argv[1]
g = torch.Generator().manual_seed(7)
B, Q, H, W = 3, 12, 32, 32
logits = torch.randn(B, Q, 1, generator=g) * 2
presence = torch.randn(B, 1, generator=g)
centers = torch.rand(B, Q, 2, generator=g) * 0.6 + 0.2
sizes = torch.rand(B, Q, 2, generator=g) * 0.3 + 0.05
boxes = torch.cat([centers, sizes], -1)
masks = torch.randn(B, Q, H, W, generator=g) * 3
# Original (height, width) of each image: not square, not multiples of the mask size.
original = torch.tensor([[240, 320], [97, 131], [200, 150]])
save_file(
    {
        "pred_logits": logits,
        "presence_logit_dec": presence,
        "pred_boxes": boxes,
        "pred_boxes_xyxy": box_ops.box_cxcywh_to_xyxy(boxes),
        "pred_masks": masks,
        "original_sizes": original,
    },
    os.path.join(out_dir, "inputs.safetensors"),
)
outputs = {"pred_logits": logits, "pred_boxes": boxes, "pred_masks": masks, "presence_logit_dec": presence}
expected = {}
for name, threshold in [("all", -1.0), ("threshold", 0.3)]:
    post = PostProcessImage(
        max_dets_per_img=-1,
        iou_type="segm",
        use_original_sizes_box=True,
        use_original_sizes_mask=True,
        convert_mask_to_rle=True,
        always_interpolate_masks_on_gpu=False,
        use_presence=True,
        detection_threshold=threshold,
    )
    results = post(outputs, original, original)
    per_image = []
    for b, r in enumerate(results):
        probs = (logits[b, :, 0].sigmoid() * presence[b].sigmoid())
        slots = [i for i in range(Q) if threshold <= 0 or probs[i] > threshold]
        per_image.append([
            {"slot": slot, "score": float(r["scores"][k]), "box": [float(v) for v in r["boxes"][k]],
             "counts": r["masks_rle"][k]["counts"], "size": list(r["masks_rle"][k]["size"])}
            for k, slot in enumerate(slots)
        ])
    expected[name] = per_image
json.dump(expected, open(os.path.join(out_dir, "expected.json"), "w"))
