"""Oracle for HOTA: pip trackeval's YouTubeVIS + HOTA (class mode, masks), and sam3's VideoPhraseHotaEvaluator /
VideoClassBasedHotaEvaluator (phrase and class mode with sam3's preprocessing, masks and boxes).

usage: hota_oracle.py GT.json PRED.json WORKDIR OUTPUT.json
"""
import contextlib
import io
import json
import os
import shutil
import sys

import numpy as np


def trackeval_class_hota(gt_path, pred_path, workdir):
    import trackeval

    gt_dir = os.path.join(workdir, "gt", "youtube_vis_val")
    tr_dir = os.path.join(workdir, "trackers", "youtube_vis_val", "tracker", "data")
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(tr_dir, exist_ok=True)
    shutil.copy(gt_path, os.path.join(gt_dir, "gt.json"))
    shutil.copy(pred_path, os.path.join(tr_dir, "results.json"))
    eval_config = trackeval.Evaluator.get_default_eval_config()
    eval_config.update(USE_PARALLEL=False, PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False,
                       OUTPUT_SUMMARY=False, OUTPUT_DETAILED=False, PLOT_CURVES=False, LOG_ON_ERROR=None,
                       BREAK_ON_ERROR=True)
    dataset_config = trackeval.datasets.YouTubeVIS.get_default_dataset_config()
    dataset_config.update(GT_FOLDER=os.path.join(workdir, "gt") + "/",
                          TRACKERS_FOLDER=os.path.join(workdir, "trackers") + "/",
                          OUTPUT_FOLDER=os.path.join(workdir, "out"), SPLIT_TO_EVAL="val",
                          TRACKERS_TO_EVAL=["tracker"], PRINT_CONFIG=False)
    evaluator = trackeval.Evaluator(eval_config)
    dataset = trackeval.datasets.YouTubeVIS(dataset_config)
    res, _ = evaluator.evaluate([dataset], [trackeval.metrics.HOTA()])
    hota = res["YouTubeVIS"]["tracker"]["COMBINED_SEQ"]["cls_comb_cls_av"]["HOTA"]
    return {k: float(np.mean(hota[k])) for k in ["HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA"]}


def main():
    gt_path, pred_path, workdir, out_path = sys.argv[1:5]
    out = {}
    with contextlib.redirect_stdout(io.StringIO()):
        out["class_trackeval"] = trackeval_class_hota(gt_path, pred_path, workdir)
        from sam3.eval.saco_veval_evaluators import VideoClassBasedHotaEvaluator, VideoPhraseHotaEvaluator

        out["phrase"] = VideoPhraseHotaEvaluator(gt_path).evaluate(pred_path)[0]
        out["class_sam3"] = VideoClassBasedHotaEvaluator(gt_path).evaluate(pred_path)[0]
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
