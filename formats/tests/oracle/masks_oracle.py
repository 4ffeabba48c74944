"""Oracle for the RLE / polygon / IoU tests: evaluates every operation of the input file with pycocotools.

usage: masks_oracle.py INPUT.json OUTPUT.json
"""
import json
import sys

import numpy as np
import pycocotools.mask as mask_utils


def rle_obj(counts, h, w):
    return {"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}


def as_str(rle):
    c = rle["counts"]
    return c.decode() if isinstance(c, bytes) else c


def run(op):
    kind = op["op"]
    if kind == "encode":
        h, w = op["h"], op["w"]
        mask = np.asfortranarray(np.array(op["mask"], dtype=np.uint8).reshape(h, w, 1))
        rle = mask_utils.encode(mask)[0]
        decoded = mask_utils.decode(rle)
        return {
            "counts": as_str(rle),
            "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            "decoded": decoded.reshape(-1).tolist(),
        }
    if kind == "segmentation":
        # COCO.annToRLE for a polygon list: frPyObjects, then merge.
        h, w = op["h"], op["w"]
        try:
            rles = mask_utils.frPyObjects(op["polygons"], h, w)
        except Exception as e:  # pycocotools rejects some polygon lists; so must we
            return {"error": str(e)}
        return {"counts": as_str(mask_utils.merge(rles))}
    if kind == "uncompressed":
        h, w = op["h"], op["w"]
        rle = mask_utils.frPyObjects({"size": [h, w], "counts": op["counts"]}, h, w)
        return {
            "counts": as_str(rle),
            "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        }
    if kind == "merge":
        rles = [rle_obj(c, h, w) for c, (h, w) in zip(op["rles"], op["sizes"])]
        return {"counts": as_str(mask_utils.merge(rles, intersect=op["intersect"]))}
    if kind == "iou":
        dt = [rle_obj(c, h, w) for c, (h, w) in zip(op["dt"], op["dt_sizes"])]
        gt = [rle_obj(c, h, w) for c, (h, w) in zip(op["gt"], op["gt_sizes"])]
        ious = mask_utils.iou(dt, gt, [int(c) for c in op["crowd"]])
        return {"iou": np.asarray(ious, dtype=float).reshape(len(dt), len(gt)).tolist()}
    if kind == "bbox_iou":
        ious = mask_utils.iou(op["dt"], op["gt"], [int(c) for c in op["crowd"]])
        return {"iou": np.asarray(ious, dtype=float).reshape(len(op["dt"]), len(op["gt"])).tolist()}
    raise ValueError(kind)


def main():
    with open(sys.argv[1]) as f:
        ops = json.load(f)
    out = [run(op) for op in ops]
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
