"""Oracle for runtime/tests/data_transforms.rs: apply upstream's transform functions to the cases in
<dir>/cases.json and write <dir>/expected.json.

Each case names a PNG image, objects (absolute XYXY box, area, optional 0/1 mask, crowd flag), queries (text,
target indices, box prompts) and a list of deterministic operations; the upstream functions used are
sam3.train.transforms.basic_for_api.{resize, pad, hflip, ToTensorAPI, NormalizeAPI},
torchvision's adjust_{brightness, contrast, saturation, hue} on PIL images, and
sam3.train.transforms.filter_query_transforms.{FlexibleFilterFindGetQueries, FilterCrowds, FilterEmptyTargets,
FilterFindQueriesWithTooManyOut}.
"""
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

import torch
import torchvision.transforms.functional as F
from PIL import Image as PILImage

from sam3.train.data.sam3_image_dataset import Datapoint, FindQueryLoaded, Image, InferenceMetadata, Object
from sam3.train.transforms import basic_for_api as B
from sam3.train.transforms import filter_query_transforms as FQ


def build(case, root):
    img = PILImage.open(os.path.join(root, case["image"])).convert("RGB")
    w, h = img.size
    objects = []
    for o in case["objects"]:
        seg = None
        if o["mask"] is not None:
            seg = torch.tensor(o["mask"], dtype=torch.uint8).view(h, w)
        objects.append(
            Object(bbox=torch.tensor(o["bbox"], dtype=torch.float32), area=o["area"], object_id=len(objects),
                   frame_index=0, segment=seg, is_crowd=o["is_crowd"])
        )
    queries = []
    for q in case["queries"]:
        boxes = None
        labels = None
        if q["box_prompts"]:
            boxes = torch.tensor(q["box_prompts"], dtype=torch.float32).view(-1, 4)
            labels = torch.ones(len(q["box_prompts"]), dtype=torch.long)
        queries.append(
            FindQueryLoaded(query_text=q["text"], image_id=0, object_ids_output=list(q["targets"]),
                            is_exhaustive=True, query_processing_order=0, input_bbox=boxes,
                            input_bbox_label=labels,
                            inference_metadata=InferenceMetadata(-1, -1, -1, (h, w), -1, -1))
        )
    return Datapoint(find_queries=queries, images=[Image(data=img, objects=objects, size=(h, w))])


def apply(dp, op):
    kind = op["op"]
    if kind == "resize":
        return B.resize(dp, 0, op["size"], op["max_size"], square=op["square"])
    if kind == "pad":
        return B.pad(dp, 0, (op["left"], op["top"], op["right"], op["bottom"]))
    if kind == "pad_bottom_right":
        return B.pad(dp, 0, (op["right"], op["bottom"]))
    if kind == "hflip":
        return B.hflip(dp, 0)
    if kind in ("brightness", "contrast", "saturation", "hue"):
        fn = getattr(F, "adjust_" + kind)
        dp.images[0].data = fn(dp.images[0].data, op["factor"])
        return dp
    if kind == "normalize":
        dp = B.ToTensorAPI()(dp)
        return B.NormalizeAPI(op["mean"], op["std"])(dp)
    filters = {
        "filter_crowds": lambda: FQ.FilterCrowds(),
        "filter_empty": lambda: FQ.FilterEmptyTargets(),
        "max_objects": lambda: FQ.FilterFindQueriesWithTooManyOut(op["n"]),
    }
    return FQ.FlexibleFilterFindGetQueries(filters[kind]())(dp)


def dump(dp):
    img = dp.images[0].data
    out = {}
    if isinstance(img, torch.Tensor):
        out["height"], out["width"] = img.shape[-2:]
        out["image_f32"] = img.flatten().tolist()
    else:
        out["width"], out["height"] = img.size
        out["image_u8"] = list(img.tobytes())
    out["objects"] = [
        {
            "bbox": o.bbox.view(4).tolist(),
            "area": float(o.area),
            "mask": None if o.segment is None else o.segment.flatten().tolist(),
        }
        for o in dp.images[0].objects
    ]
    out["queries"] = [
        {
            "text": q.query_text,
            "targets": list(q.object_ids_output),
            "box_prompts": [] if q.input_bbox is None else q.input_bbox.view(-1, 4).tolist(),
        }
        for q in dp.find_queries
    ]
    return out


def main(root):
    with open(os.path.join(root, "cases.json")) as f:
        cases = json.load(f)["cases"]
    results = []
    for case in cases:
        dp = build(case, root)
        try:
            for op in case["ops"]:
                dp = apply(dp, op)
            results.append({"skipped": False, **dump(dp)})
        except ValueError:
            results.append({"skipped": True})
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump({"results": results}, f)


if __name__ == "__main__":
    main(sys.argv[1])
