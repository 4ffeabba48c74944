#!/usr/bin/env bash
# The whole test suite. Installs what it needs by itself: the cached Python environment (torch 2.13.0 for
# libtorch, and the reference packages the oracle tests compare against live: sam3, pycocotools, trackeval,
# hydra-core, tensorboard, ...) and the Rust crates (through cargo). Oracle tests are required here, not skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Graphviz renders the execution graphs in the tests (`sam3c graph --format dot`).
if ! command -v dot >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q graphviz >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q graphviz >/dev/null 2>&1; } || true
fi
export SAM3C_REQUIRE_ORACLES=1
cargo test --workspace --locked "$@"
