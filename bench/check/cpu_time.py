"""CPU time (user + system, best of 5) of `sam3c check` on each given spec.

CPU time is far less sensitive than wall time to other jobs on a shared machine, so it shows the scaling
of the checker even when hyperfine's wall-time numbers are noisy.
usage: python3 bench/check/cpu_time.py BIN SPEC...
"""
import resource
import subprocess
import sys

binary, specs = sys.argv[1], sys.argv[2:]
for spec in specs:
    best = float("inf")
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([binary, "check", spec], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, used)
    print(f"{spec}\t{best * 1000:.1f} ms cpu")
