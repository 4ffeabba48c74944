"""Summarize a bench.sh run: seconds per step, images/s and peak memory, native vs Meta's trainer.
usage: summarize.py WORK_DIR"""
import glob, os, re, statistics, sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

work = sys.argv[1]


def peak_rss_mib(path):
    text = open(path).read()
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024


def native_steps():
    events = glob.glob(os.path.join(work, "native", "stage1", "tensorboard", "*"))
    acc = EventAccumulator(events[0], size_guidance={"scalars": 0})
    acc.Reload()
    ips = [s.value for s in acc.Scalars("Throughput/images_per_s")]
    wait = [s.value for s in acc.Scalars("Throughput/data_wait_s")]
    return [1.0 / v for v in ips[1:]], wait[1:]


def upstream_steps():
    # Meta's trainer logs `Batch Time: current (average)` per logged step; keep the current values after step 0.
    text = open(os.path.join(work, "upstream.log")).read()
    lines = [l for l in text.splitlines() if "Train Epoch" in l and "Batch Time" in l]
    current = [float(re.search(r"Batch Time: ([0-9.]+)", l).group(1)) for l in lines]
    return current[1:] if len(current) > 1 else current


native, wait = native_steps()
upstream = upstream_steps()
n_med, u_med = statistics.median(native), statistics.median(upstream)
print(f"native:   {len(native)} steps, median {n_med:.3f} s/step ({1 / n_med:.2f} images/s), "
      f"median data wait {statistics.median(wait) * 1000:.1f} ms/step, peak RSS {peak_rss_mib(os.path.join(work, 'native.time')):.0f} MiB")
print(f"upstream: {len(upstream)} logged steps, median {u_med:.3f} s/step ({1 / u_med:.2f} images/s), "
      f"peak RSS {peak_rss_mib(os.path.join(work, 'upstream.time')):.0f} MiB")
print(f"native / upstream step time: {n_med / u_med:.2f} (below 1: native faster)")
