"""Oracle for runtime/tests/data_coco.rs: build the raw datapoints of a COCO dataset with upstream's
Sam3ImageDataset + COCO_FROM_JSON (+ DecodeRle when masks are loaded), without transforms or retries, and
write <dir>/expected_<case>.json. Arguments: <dir> <case>, where <dir>/<case>.json holds the options."""
import json
import os
import sys
import warnings
from functools import partial

warnings.filterwarnings("ignore")

import numpy as np
from sam3.train.data.coco_json_loaders import COCO_FROM_JSON
from sam3.train.data.sam3_image_dataset import CustomCocoDetectionAPI, Sam3ImageDataset
from sam3.train.transforms.segmentation import DecodeRle


def checksum(mask):
    flat = mask.numpy().astype(np.int64).reshape(-1)
    weights = np.arange(flat.size, dtype=np.int64) % 9973 + 1
    return [int(flat.sum()), int((flat * weights).sum())]


def main(root, case):
    with open(os.path.join(root, case + ".json")) as f:
        opt = json.load(f)
    prompts = None
    if opt["prompts"] is not None:
        prompts = repr([{"id": int(k), "name": v} for k, v in opt["prompts"].items()])
    loader = partial(COCO_FROM_JSON, prompts=prompts, include_negatives=opt["negatives"],
                     category_chunk_size=opt["chunk"])
    ds = Sam3ImageDataset(img_folder=opt["images"], ann_file=opt["annotations"], transforms=[],
                          max_ann_per_img=10**9, multiplier=1, training=opt["training"],
                          load_segmentation=opt["masks"], coco_json_loader=loader, limit_ids=opt["limit"])
    out = []
    for i in range(len(ds)):
        dp = CustomCocoDetectionAPI.__getitem__(ds, i)
        if opt["masks"]:
            dp = DecodeRle()(dp)
        img = dp.images[0]
        if i == 0:
            with open(os.path.join(root, case + "_pixels.bin"), "wb") as f:
                f.write(img.data.tobytes())
        out.append({
            "size": list(img.data.size),
            "objects": [{
                "bbox": o.bbox.view(4).tolist(),
                "area": float(o.area),
                "is_crowd": bool(o.is_crowd),
                "object_id": o.object_id,
                "mask": None if o.segment is None else checksum(o.segment),
            } for o in img.objects],
            "queries": [{
                "text": q.query_text,
                "targets": q.object_ids_output,
                "is_exhaustive": q.is_exhaustive,
                "coco_image_id": q.inference_metadata.coco_image_id,
                "original_image_id": q.inference_metadata.original_image_id,
                "original_category_id": q.inference_metadata.original_category_id,
                "original_size": list(q.inference_metadata.original_size),
                "object_id": q.inference_metadata.object_id,
                "frame_index": q.inference_metadata.frame_index,
            } for q in dp.find_queries],
        })
    with open(os.path.join(root, "expected_" + case + ".json"), "w") as f:
        json.dump({"datapoints": out}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
