#!/usr/bin/env bash
# Loader throughput (images/s) on the demo dataset, 1 and 2 workers, at 224 and 1008 px.
# Usage: bench/data/loader.sh [DEMO_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
exec cargo run -q -p sam3c-runtime --release --example bench_loader -- "$@"
