"""Oracle for runtime/tests/demo_generate.rs: load the demo dataset in <dir> with pycocotools and PIL and write
<dir>/check.json with, per split, what pycocotools and PIL see: images (size), annotations (area and bbox
recomputed from the decoded RLE, next to the stored ones), categories, and the same for the YTVIS files."""
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def check_coco(folder):
    coco = COCO(os.path.join(folder, "_annotations.coco.json"))
    images = []
    for img_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(img_id)[0]
        with Image.open(os.path.join(folder, info["file_name"])) as im:
            size = list(im.convert("RGB").size)
        anns = []
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
            m = coco.annToMask(ann)
            rle = coco.annToRLE(ann)
            anns.append({
                "category_id": ann["category_id"],
                "stored_area": ann["area"],
                "stored_bbox": ann["bbox"],
                "decoded_area": int(m.sum()),
                "rle_area": int(mask_utils.area(rle)),
                "rle_bbox": [float(v) for v in mask_utils.toBbox(rle)],
            })
        images.append({"id": img_id, "size": size, "width": info["width"], "height": info["height"],
                       "annotations": anns})
    return {"images": images, "categories": [c["name"] for c in coco.loadCats(coco.getCatIds())]}


def check_ytvis(folder):
    with open(os.path.join(folder, "annotations.json")) as f:
        data = json.load(f)
    videos = {v["id"]: v for v in data["videos"]}
    frames_ok = all(os.path.exists(os.path.join(folder, fn)) for v in data["videos"] for fn in v["file_names"])
    tracks = []
    for ann in data["annotations"]:
        v = videos[ann["video_id"]]
        per_frame = []
        for seg, box, area in zip(ann["segmentations"], ann["bboxes"], ann["areas"]):
            if seg is None:
                per_frame.append(None)
                continue
            rle = {"size": seg["size"], "counts": seg["counts"].encode()}
            m = mask_utils.decode(rle)
            assert m.shape == (v["height"], v["width"])
            per_frame.append({"area": int(m.sum()), "stored_area": area,
                              "bbox": [float(x) for x in mask_utils.toBbox(rle)], "stored_bbox": box})
        tracks.append({"category_id": ann["category_id"], "frames": per_frame})
    return {"frames_exist": frames_ok, "videos": len(data["videos"]), "tracks": tracks,
            "categories": [c["name"] for c in data["categories"]]}


def main(root):
    out = {
        "train": check_coco(os.path.join(root, "train")),
        "test": check_coco(os.path.join(root, "test")),
        "videos_train": check_ytvis(os.path.join(root, "videos", "train")),
        "videos_val": check_ytvis(os.path.join(root, "videos", "val")),
    }
    with open(os.path.join(root, "check.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
