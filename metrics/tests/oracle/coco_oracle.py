"""Oracle for COCO AP: pycocotools' COCOeval, and sam3's COCOevalCustom for the positive split.

usage: coco_oracle.py CASES.json OUTPUT.json
CASES.json is a list of {"gt": path, "dt": path, "iou_type": "bbox"|"segm", "positive_split": bool};
OUTPUT.json gets, per case, the 12 summary statistics.
"""
import contextlib
import io
import json
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    custom = None
    if any(c["positive_split"] for c in cases):
        from sam3.eval.coco_eval_offline import COCOevalCustom as custom
    out = []
    for case in cases:
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(case["gt"])
            dt = gt.loadRes(case["dt"])
            if case["positive_split"]:
                ev = custom(gt, dt, iouType=case["iou_type"], dt_only_positive=True)
            else:
                ev = COCOeval(gt, dt, iouType=case["iou_type"])
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        out.append([float(v) for v in ev.stats])
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
