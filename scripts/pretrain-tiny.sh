#!/usr/bin/env bash
# Makes examples/weights/sam3-tiny-factory.safetensors, the pretrained tiny SAM 3 the quickstart fine-tunes:
# demo data drawn with seed 1 (never the quickstart's seed 0), 1000 training images, the stage in
# examples/pretrain_tiny.sam3x, then the final checkpoint's model weights without the optimizer state.
# About 30 minutes on two CPU cores (1,819 s measured). Arguments go to `sam3c run` (`--set epochs=2`, `--threads 1`, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked --bin sam3c
sam3c="${CARGO_TARGET_DIR:-target}/release/sam3c"
work="${SAM3C_PRETRAIN_DIR:-runs/pretrain-tiny}"
[ -f "$work/data/train/_annotations.coco.json" ] ||
    "$sam3c" demo-data "$work/data" --seed 1 --train-images 1000 --test-images 48
"$sam3c" run examples/pretrain_tiny.sam3x --set "data_root=\"$work/data\"" --out "$work/run" "$@"
"$sam3c" model weights "$work/run/pretrain/checkpoints/final.safetensors" \
    -o examples/weights/sam3-tiny-factory.safetensors
