"""COCO AP benchmark: sam3c-metrics against pycocotools on the same files, same run.

  cargo build --release -p sam3c-metrics --example coco_bench
  $SAM3C_PYTHON bench/metrics/coco_bench.py --bin $CARGO_TARGET_DIR/release/examples/coco_bench

Generates IMAGES images with DETS detections each (20 categories, up to 14 ground truths per image, 320x240
masks), evaluates bbox and segm with both, checks the 12 statistics agree to 1e-9 and prints the timings.
pycocotools' time covers COCO() + loadRes + evaluate + accumulate + summarize; ours covers parsing + evaluation.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import tempfile
import time

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def pycocotools_stats(gt_path, dt_path, iou_type):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        loaded = time.perf_counter()
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    done = time.perf_counter()
    return [float(v) for v in ev.stats], loaded - start, done - loaded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="path of the built coco_bench example")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="sam3c-coco-bench-")
    subprocess.run([args.bin, "gen", workdir, str(args.images), str(args.dets), str(args.seed)], check=True)
    gt_path, dt_path = os.path.join(workdir, "gt.json"), os.path.join(workdir, "dt.json")
    print(f"{args.images} images x {args.dets} detections, files in {workdir}")
    print(f"{'iou':<5} {'pycocotools load':>17} {'eval':>8} {'total':>8} | {'ours parse':>10} {'eval':>8} {'total':>8} | "
          f"{'speedup total':>13} {'eval only':>9} | max |diff|")
    for iou_type in ["bbox", "segm"]:
        ref, ref_load, ref_eval = pycocotools_stats(gt_path, dt_path, iou_type)
        wall = time.perf_counter()
        out = json.loads(subprocess.run([args.bin, "eval", gt_path, dt_path, iou_type], check=True,
                                        capture_output=True, text=True).stdout)
        wall = time.perf_counter() - wall
        ours = out["stats"]
        diff = max(abs(a - b) for a, b in zip(ours, ref))
        ref_total = ref_load + ref_eval
        ours_total = out["parse_seconds"] + out["eval_seconds"]
        print(f"{iou_type:<5} {ref_load:>16.2f}s {ref_eval:>7.2f}s {ref_total:>7.2f}s | {out['parse_seconds']:>9.2f}s "
              f"{out['eval_seconds']:>7.2f}s {ours_total:>7.2f}s | {ref_total / ours_total:>12.1f}x "
              f"{ref_eval / out['eval_seconds']:>8.1f}x | {diff:.1e}  (process wall {wall:.2f}s)")
        print(f"      AP {ref[0]:.6f} (pycocotools) {ours[0]:.6f} (ours)")
        assert diff < 1e-9, f"{iou_type}: statistics differ: {ref} vs {ours}"


if __name__ == "__main__":
    main()
