#!/usr/bin/env bash
# The main job on embedded defaults: generate the demo factory dataset and run examples/quickstart.sam3x
# (a tiny SAM 3 fine-tuned from examples/weights/, then its temporal stage) with the native runtime, on CUDA when
# present and on the CPU otherwise. Installs what it needs by itself (libtorch through the cached Python
# environment; the Rust crates).
set -euo pipefail
cd "$(dirname "$0")/.."
sam3c="${CARGO_TARGET_DIR:-target}/release/sam3c"
build=(cargo build --release --locked --bin sam3c)

# On a fresh machine the Python environment (torch, a few minutes of download) and the build (a few minutes of
# CPU) would take turns; instead the crates that do not need libtorch compile while pip installs it. The build
# then stops at torch-sys, which cannot find libtorch yet (its errors go to the log), and the second build
# below finishes it.
source scripts/env.sh --paths-only
prebuild=
if [ ! -f "$SAM3C_VENV/.sam3c-complete" ] && [ -z "${LIBTORCH:-}" ]; then
    mkdir -p "$SAM3C_CACHE"
    log="$SAM3C_CACHE/demo-prebuild.log"
    echo "sam3c: compiling the crates that do not need libtorch meanwhile (log: $log)" >&2
    # Niced: pip (one process) keeps a core, the build takes what is left.
    env -u LIBTORCH_USE_PYTORCH -u VIRTUAL_ENV nice -n 19 "${build[@]}" --keep-going >"$log" 2>&1 &
    prebuild=$!
    trap 'kill "$prebuild" 2>/dev/null || true' EXIT
fi
source scripts/env.sh
if [ -n "$prebuild" ]; then
    wait "$prebuild" || true
    trap - EXIT
fi
"${build[@]}"
[ -f demo-data/train/_annotations.coco.json ] || "$sam3c" demo-data demo-data
exec "$sam3c" run examples/quickstart.sam3x "$@"
