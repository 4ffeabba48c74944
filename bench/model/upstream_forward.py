"""Forward-pass timing of upstream sam3 0.1.4's image model (eval, no grad) on one image and one text prompt,
built from the same ImageConfig as runtime/examples/image_forward_bench.rs (same classes as the parity oracle).
usage: python upstream_forward.py CONFIG_JSON [iterations] [threads]"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "runtime", "tests", "oracle"))

import torch  # noqa: E402

import sam3_image_oracle as oracle  # noqa: E402  (also applies the CPU patches)

cfg = json.loads(sys.argv[1])
iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
torch.use_deterministic_algorithms(False)

t0 = time.perf_counter()
model = oracle.build_model(cfg).eval()
build_s = time.perf_counter() - t0

from sam3.model.data_misc import FindStage  # noqa: E402
from sam3.model.geometry_encoders import Prompt  # noqa: E402

r = cfg["resolution"]
img = torch.randn(1, 3, r, r)


def forward():
    backbone_out = {"img_batch_all_stages": img}
    backbone_out.update(model.backbone.forward_image(img))
    backbone_out.update(model.backbone.forward_text(["a red car"], device="cpu"))
    boxes = torch.zeros(0, 1, 4)
    mask = torch.zeros(1, 0, dtype=torch.bool)
    find_input = FindStage(img_ids=torch.tensor([0]), text_ids=torch.tensor([0]), input_boxes=boxes,
                           input_boxes_mask=mask, input_boxes_label=torch.zeros(0, 1, dtype=torch.long),
                           input_points=torch.zeros(0, 1, 2), input_points_mask=torch.zeros(1, 0, dtype=torch.bool))
    prompt = Prompt(box_embeddings=boxes, box_mask=mask)
    return model.forward_grounding(backbone_out=backbone_out, find_input=find_input, find_target=None,
                                   geometric_prompt=prompt)


times = []
with torch.no_grad():
    forward()  # warm-up
    for _ in range(iters):
        t = time.perf_counter()
        out = forward()
        float(out["pred_logits"].sum())
        times.append(time.perf_counter() - t)
print(json.dumps({"impl": "upstream", "build_s": build_s, "forward_s": times, "mean_s": sum(times) / len(times),
                  "threads": threads}))
