#!/usr/bin/env python3
"""Runs a command several times, whole process, and reports wall time and peak RSS.

    measure.py REPS OUT_FILE -- COMMAND...

Prints one JSON line: {"runs": [...seconds...], "median_s": .., "peak_rss_kib": ..,
"exit": ..}. Peak RSS is the largest ru_maxrss of the process tree as reported by
wait4(2) for each run (the kernel's high-water mark of the child and the
descendants it waited for). The stdout of the last run is written to OUT_FILE.
If the first run takes longer than SLOW_S (env, default 10 s), only
SLOW_REPS (env, default 3) runs are made in total.
"""

import json
import os
import statistics
import sys
import time


def run_once(cmd, out_path):
    with open(out_path, "wb") as out, open(os.devnull, "wb") as null:
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.dup2(null.fileno(), 2)
            try:
                os.execvp(cmd[0], cmd)
            finally:
                os._exit(127)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main():
    reps, out_path = int(sys.argv[1]), sys.argv[2]
    if sys.argv[3] != "--":
        sys.exit(__doc__)
    cmd = sys.argv[4:]
    slow_s = float(os.environ.get("SLOW_S", "10"))
    slow_reps = int(os.environ.get("SLOW_REPS", "3"))
    runs, peak, code = [], 0, 0
    while len(runs) < reps:
        elapsed, rss, code = run_once(cmd, out_path)
        runs.append(elapsed)
        peak = max(peak, rss)
        if code != 0:
            break
        if len(runs) == 1 and elapsed > slow_s:
            reps = min(reps, slow_reps)
    print(
        json.dumps(
            {
                "runs": [round(r, 4) for r in runs],
                "median_s": statistics.median(runs),
                "peak_rss_kib": peak,
                "exit": code,
            }
        )
    )


if __name__ == "__main__":
    main()
