#!/usr/bin/env bash
# Forward time and peak memory of the image model, ours (tch) vs upstream sam3 0.1.4, same sizes, same run.
# usage: bench/model/run.sh [tiny|full|both] [iterations]   (from the repository root, after source scripts/env.sh)
# Eval mode, no gradient, 1 image + 1 text prompt, CPU, 2 threads. Prints one line per implementation and a
# ratio; peak memory is the max RSS of each process (/usr/bin/time -v).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
which="${1:-both}"
iters="${2:-}"
: "${SAM3C_PYTHON:?source scripts/env.sh first}"
cd "$root"
cargo build --release -q -p sam3c-runtime --example image_forward_bench
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/image_forward_bench"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run() { # name config iterations
    local cfg_json
    cfg_json="$("$bin" --config-json "$2")"
    /usr/bin/time -v "$bin" "$2" "$3" 2 >"$out/ours.json" 2>"$out/ours.time"
    /usr/bin/time -v "$SAM3C_PYTHON" bench/model/upstream_forward.py "$cfg_json" "$3" 2 \
        >"$out/up.json" 2>"$out/up.time"
    "$SAM3C_PYTHON" - "$1" "$out" <<'PY'
import json, re, sys
name, d = sys.argv[1], sys.argv[2]
def rss(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024 / 1024
ours, up = json.load(open(f"{d}/ours.json")), json.load(open(f"{d}/up.json"))
med = lambda r: sorted(r["forward_s"])[len(r["forward_s"]) // 2]
for r, t in ((ours, "ours.time"), (up, "up.time")):
    print(f"{name:5s} {r['impl']:9s} forward over {len(r['forward_s'])} runs: min {min(r['forward_s']):.4f} s, "
          f"median {med(r):.4f} s, mean {r['mean_s']:.4f} s; build {r['build_s']:.2f} s; "
          f"peak RSS {rss(f'{d}/{t}'):.2f} GiB")
# The minimum is the least disturbed by other load on the machine.
print(f"{name:5s} ratio ours/upstream forward time: min {min(ours['forward_s']) / min(up['forward_s']):.3f}, "
      f"median {med(ours) / med(up):.3f}")
PY
}

if [[ "$which" == tiny || "$which" == both ]]; then run tiny tiny "${iters:-20}"; fi
if [[ "$which" == full || "$which" == both ]]; then run full full "${iters:-2}"; fi
