#!/usr/bin/env bash
# Training throughput and peak memory of sam3-tiny on the CPU: the native runtime vs Meta's trainer (sam3 0.1.4,
# through the harness in ../shared/bench/upstream-tiny) on the same model, data and settings, in the same run.
#
#   bench/runtime/bench.sh [N_TRAIN_IMAGES=16] [EPOCHS=2] [THREADS=2]
#
# Both sides train batch 1 at 224 px on the toy COCO set of make_toy_coco.py with the stage-1 loss, optimizer and
# schedule; both use THREADS intra-op threads. Reported: the median seconds per optimizer step (the first step of
# each run excluded: warm-up), images/s, peak RSS (/usr/bin/time), and for the native side the median time a step
# waited for the data loader. Meta's trainer runs from a private copy of the sam3 package (the harness writes its
# config into the package), so the shared Python environment is left untouched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n_train="${1:-16}"
epochs="${2:-2}"
threads="${3:-2}"
# The upstream harness and the BPE vocabulary live in the shared directory beside the clone.
harness="${SAM3C_UPSTREAM_HARNESS:-$root/../shared/bench/upstream-tiny}"
bpe="${SAM3C_BPE:-$root/runtime/assets/bpe_simple_vocab_16e6.txt.gz}"

cd "$root"
source scripts/env.sh
cargo build --release --locked --bin sam3c
sam3c="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/sam3c"
work="$(mktemp -d /tmp/sam3c-bench.XXXXXX)"
echo "bench: $n_train images, $epochs epochs, $threads threads; work dir $work" >&2
"$SAM3C_PYTHON" "$harness/make_toy_coco.py" "$work/toy" "$n_train"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"

# Native.
/usr/bin/time -v -o "$work/native.time" "$sam3c" run "$here/tiny_stage1.sam3x" \
    --set "data_root=\"$work/toy\"" --set "epochs=$epochs epochs" --out "$work/native" --threads "$threads" \
    > "$work/native.log" 2>&1

# Meta's trainer, from a private copy of the package.
mkdir -p "$work/overlay"
cp -r "$("$SAM3C_PYTHON" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("sam3").origin))')" \
    "$work/overlay/"
sed -e "s/max_epochs: 2/max_epochs: $epochs/" -e "s/log_freq: 10/log_freq: 1/" "$harness/tiny_stage1.yaml" > "$work/tiny_stage1.yaml"
cp "$harness/run_upstream.py" "$harness/cpu_patch.py" "$harness/tiny_builder.py" "$work/"
(cd "$work" && PYTHONPATH="$work/overlay:$work" TOY_DATA="$work/toy" EXP_DIR="$work/upstream" BPE_PATH="$bpe" \
    /usr/bin/time -v -o "$work/upstream.time" "$SAM3C_PYTHON" run_upstream.py "$work/tiny_stage1.yaml" \
    > "$work/upstream.log" 2>&1)

"$SAM3C_PYTHON" "$here/summarize.py" "$work"
