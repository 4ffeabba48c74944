"""Oracle for J&F: TrackEval's JAndF metric (DAVIS protocol) on sequences built from a YTVIS file.

usage: jf_oracle.py GT.json PRED.json OUTPUT.json
A sequence is a video (all tracks) or, in phrase mode, a (video, category) pair; a track takes part when it has a
mask in some frame; sequences without ground-truth tracks are skipped. For each mode the combined fields are
written.
"""
import json
import sys

import numpy as np
import pycocotools.mask as mask_utils
from trackeval.metrics import JAndF


def compressed(seg):
    if seg is None:
        return None
    if isinstance(seg["counts"], list):
        seg = mask_utils.frPyObjects(seg, seg["size"][0], seg["size"][1])
    return seg


def run(gt, preds, per_phrase, threshold):
    videos = {v["id"]: v for v in gt["videos"]}
    gt_tracks = [(a["video_id"], a["category_id"], [compressed(s) for s in a["segmentations"]]) for a in gt["annotations"]]
    pr_tracks = [(p["video_id"], p["category_id"], [compressed(s) for s in p["segmentations"]])
                 for p in preds if threshold is None or p["score"] > threshold]
    keys = sorted({(v, c if per_phrase else None) for v, c, _ in gt_tracks + pr_tracks},
                  key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    metric = JAndF()
    results = {}
    for vid, cat in keys:
        T = len(videos[vid]["file_names"])

        def sel(tracks):
            return [t[2][:T] for t in tracks if t[0] == vid and (cat is None or t[1] == cat) and any(s is not None for s in t[2][:T])]

        gts, trs = sel(gt_tracks), sel(pr_tracks)
        if not gts:
            continue
        data = {"num_timesteps": T, "num_gt_ids": len(gts), "num_tracker_ids": len(trs),
                "gt_dets": [], "tracker_dets": [], "gt_ids": [], "tracker_ids": []}
        for t in range(T):
            g = [i for i, tr in enumerate(gts) if tr[t] is not None]
            k = [i for i, tr in enumerate(trs) if tr[t] is not None]
            data["gt_ids"].append(np.array(g, dtype=int))
            data["tracker_ids"].append(np.array(k, dtype=int))
            data["gt_dets"].append([gts[i][t] for i in g])
            data["tracker_dets"].append([trs[i][t] for i in k])
        results[(vid, cat)] = metric.eval_sequence(data)
    combined = metric.combine_sequences(results)
    return {f: float(combined[f]) for f in metric.float_fields} | {"num_gt_tracks": int(combined["num_gt_tracks"])}


def main():
    with open(sys.argv[1]) as f:
        gt = json.load(f)
    with open(sys.argv[2]) as f:
        preds = json.load(f)
    out = {"video": run(gt, preds, False, None), "phrase": run(gt, preds, True, 0.5)}
    with open(sys.argv[3], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
