#!/usr/bin/env bash
# Benchmark of `sam3c check` (process wall time, hyperfine): the factory example, and generated specs of
# growing size up to 1,000 stages among 10,000 declarations, to show the cost is linear in spec size.
# usage: bench/check/run.sh            (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p sam3c --no-default-features >&2
bin=target/release/sam3c
tmp=$(mktemp -d)
for n in 125 250 500 1000; do
    python3 bench/check/gen_spec.py "$n" $((n * 10)) > "$tmp/stages_$n.sam3x"
    "$bin" check "$tmp/stages_$n.sam3x" >/dev/null 2>&1 || { echo "generated spec $n does not check clean" >&2; exit 1; }
done
hyperfine -N --warmup 5 --runs 50 "$bin check examples/factory.sam3x" --export-markdown "$tmp/factory.md"
hyperfine -N --warmup 2 --runs 10 \
    "$bin check $tmp/stages_125.sam3x" "$bin check $tmp/stages_250.sam3x" \
    "$bin check $tmp/stages_500.sam3x" "$bin check $tmp/stages_1000.sam3x" --export-markdown "$tmp/scaling.md"
cat "$tmp/factory.md" "$tmp/scaling.md"
echo "CPU time (best of 5), robust to other load:"
python3 bench/check/cpu_time.py "$bin" examples/factory.sam3x "$tmp"/stages_{125,250,500,1000}.sam3x
rm -rf "$tmp"
