"""Time and memory of PSIS-LOO and LOO-PIT: arviz-stats against ``radonspec.analysis.psis``.

Each measurement runs in a fresh process on a synthetic fit of 4 chains x 1000 draws
(Gaussian observations, each with its own mean, so every observation's weights differ)::

    .venv/bin/python -m bench.psis_loo 919 10000 100000 --pit-max 10000

prints one line per (observations, what, implementation): wall and CPU seconds (CPU time
is the steadier figure on a shared machine: both implementations run on one core), the
resident memory before the call (the fit) and the peak during it, in MB.

Measured 2026-11-30 on the shared 2-core machine (load average 7 to 8, so wall times are
about four times the CPU times; extra = peak minus the fit's own memory):

==========  =======  ==================  ==================  ===========================
obs         what     CPU s radonspec     CPU s arviz-stats   extra MB radonspec / arviz
==========  =======  ==================  ==================  ===========================
919         loo      0.34                1.79 (5.3x)         46 / 134
919         loo_pit  0.40                1.49 (3.7x)         46 / 305
10^4        loo      4.19                18.0 (4.3x)         331 / 418
10^4        loo_pit  4.12                13.2 (3.2x)         331 / 2,287
10^5        loo      31.3                145 (4.6x)          3,077 / 3,169
==========  =======  ==================  ==================  ===========================

At 10^5 both hold the 3.05 GB of log weights they return; radonspec needs ~30 MB more.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

CHAINS, DRAWS = 4, 1000


def _fit(n_obs: int, *, predictive: bool) -> Any:
    import numpy as np
    from arviz_base import from_dict

    rng = np.random.default_rng(n_obs)
    y = rng.normal(0.0, 1.0, n_obs)
    centre = rng.normal(0.0, 0.5, n_obs)
    a = rng.normal(0.0, 0.05, (CHAINS, DRAWS))
    sigma = np.abs(rng.normal(1.0, 0.05, (CHAINS, DRAWS)))
    log_lik = np.empty((CHAINS, DRAWS, n_obs))
    groups: dict[str, Any] = {"posterior": {"a": a, "sigma": sigma}}
    for c in range(CHAINS):  # a chain at a time: no temporary of the whole array
        mu = centre + a[c, :, None]
        log_lik[c] = -0.5 * ((y - mu) / sigma[c, :, None]) ** 2 - np.log(sigma[c, :, None])
    groups["log_likelihood"] = {"y": log_lik}
    groups["observed_data"] = {"y": y}
    if predictive:
        draws = np.empty((CHAINS, DRAWS, n_obs))
        for c in range(CHAINS):
            draws[c] = rng.normal(centre + a[c, :, None], sigma[c, :, None])
        groups["posterior_predictive"] = {"y": draws}
    return from_dict(groups)


def _measure(n_obs: int, what: str, how: str) -> dict[str, Any]:
    import warnings

    import arviz_stats as azs
    import psutil

    from radonspec.analysis import psis

    tree = _fit(n_obs, predictive=what != "loo")
    process = psutil.Process()
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if what == "loo":
            (azs.loo if how == "arviz-stats" else psis.psis_loo)(tree, pointwise=True)
        elif how == "arviz-stats":
            azs.loo_pit(tree)
        else:
            psis.loo_pit(tree, "y")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    done.set()
    watcher.join()
    peak[0] = max(peak[0], process.memory_info().rss)
    return {
        "n_obs": n_obs,
        "what": what,
        "how": how,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "rss_before_mb": round(before / 2**20),
        "peak_mb": round(peak[0] / 2**20),
    }


def main() -> None:
    """Measure every size in a fresh process per measurement and print the lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--pit-max", type=int, default=10_000, help="largest size for LOO-PIT")
    parser.add_argument("--arviz-max", type=int, default=10**9, help="largest size for arviz")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(int(args.one[0]), args.one[1], args.one[2])))
        return
    for n_obs in args.sizes:
        for what in ("loo", "loo_pit"):
            if what == "loo_pit" and n_obs > args.pit_max:
                continue
            for how in ("radonspec", "arviz-stats"):
                if how == "arviz-stats" and n_obs > args.arviz_max:
                    continue
                command = [sys.executable, "-m", "bench.psis_loo", "0", "--one"]
                command += [str(n_obs), what, how]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
