"""Oracle for cgF1: sam3.eval.cgf1_eval.CGF1Evaluator.

usage: cgf1_oracle.py CASES.json OUTPUT.json
CASES.json is a list of {"gts": [paths], "pred": path, "iou_type": "bbox"|"segm"}; OUTPUT.json gets, per case,
the evaluator's dict of 26 statistics.
"""
import contextlib
import io
import json
import sys

from sam3.eval.cgf1_eval import CGF1Evaluator


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = []
    for case in cases:
        with contextlib.redirect_stdout(io.StringIO()):
            gts = case["gts"] if len(case["gts"]) > 1 else case["gts"][0]
            ev = CGF1Evaluator(gt_path=gts, iou_type=case["iou_type"])
            out.append(ev.evaluate(case["pred"]))
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
