#!/usr/bin/env bash
# The main job on embedded defaults: generate the demo factory dataset and run examples/quickstart.sam3x
# (a tiny SAM 3, two stages) with the native runtime, on CUDA when present and on the CPU otherwise.
# Installs what it needs by itself (libtorch through the cached Python environment; the Rust crates).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked --bin sam3c
sam3c="${CARGO_TARGET_DIR:-target}/release/sam3c"
[ -f demo-data/train/_annotations.coco.json ] || "$sam3c" demo-data demo-data
exec "$sam3c" run examples/quickstart.sam3x "$@"
