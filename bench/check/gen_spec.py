"""Generate a large .sam3x spec for the check benchmark: STAGES stages among DECLS declarations in all.

usage: gen_spec.py STAGES DECLS > big.sam3x
Each stage has its own datasets, pipeline, optimizer (a `with` over a shared recipe), schedule and meter;
the remaining declarations are `let` values that the stages' learning rates depend on."""
import sys

stages, decls = int(sys.argv[1]), int(sys.argv[2])
per_stage = 7  # train + test dataset, pipeline, optimizer, schedule, meter, stage
lets = max(decls - 2 - stages * per_stage, 0)
out = ['import "std/sam3.sam3x" as sam3', "", 'param data_root: Path = "data"', "param resolution: Pixels = 1008px", ""]
for i in range(lets):
    out.append(f"let scale_{i} = {1 + i % 7} * 0.01" if i == 0 or i % 50 == 0 else f"let scale_{i} = scale_{i - 1} * 1.0")
for i in range(stages):
    s = f"scale_{i % lets}" if lets else "0.01"
    out += [
        f"dataset train_{i} = coco_images {{",
        f'    images = data_root / "d{i}/train"',
        f'    annotations = data_root / "d{i}/train/_annotations.coco.json"',
        "}",
        f'dataset test_{i} = coco_images {{ images = data_root / "d{i}/test", annotations = data_root / "d{i}/test/a.json" }}',
        f"pipeline pipe_{i} = [",
        "    filter_crowds,",
        "    decode_masks,",
        "    random_resize(scales(resolution, min = 480px), square = true),",
        "    pad(resolution),",
        "    normalize(),",
        "    max_objects(200),",
        "]",
        f"optimizer opt_{i} = sam3.finetune with {{ lr = 8e-4 * {s} }}",
        f"schedule sched_{i} = inverse_sqrt(warmup = {10 + i % 10} steps, timescale = 20 steps, cooldown = 10 steps)",
        f"meter ap_{i} = coco_ap(segm, data = test_{i}, pipeline = pipe_{i})",
        f"stage stage_{i} {{",
        "    model = sam3_image {}",
        f"    data = train_{i}",
        f"    pipeline = pipe_{i}",
        "    loss = sam3.detection_masks",
        f"    optimizer = opt_{i}",
        f"    schedule = sched_{i}",
        "    epochs = 10 epochs",
        f"    eval = [ap_{i}]",
        "    eval_every = 5 epochs",
        "}",
    ]
print("\n".join(out))
