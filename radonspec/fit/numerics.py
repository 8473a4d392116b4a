"""Sampling arithmetic that does not depend on where the compiled code came from.

PyTensor compiles a model's log density for nutpie with Numba, by default in
``fastmath`` mode, and keeps the machine code in an on-disk cache. Fast math lets LLVM
reorder floating-point operations, and it did so differently when a function was
compiled afresh than when it was loaded from the cache: the same model, data and seed
gave other draws (posterior means 0.026 apart here) depending on whether the cache was
warm, which under load and with concurrent runs (a Dask cluster beside a local run) is a
matter of timing. With ``numba__fastmath`` off, a cold and a warm cache give the same
bits (measured: same sampling time within noise). Chains, cores and threads do not
change the draws: nutpie seeds each chain from (seed, chain) alone.
"""

from __future__ import annotations

#: Goes into every fit key: fits sampled with fast math are not these fits.
NUMERICS = {"numba_fastmath": False}


def use_exact_math() -> None:
    """Make PyTensor compile Numba code without fast math, in this process, from now on."""
    import pytensor

    pytensor.config.numba__fastmath = NUMERICS["numba_fastmath"]
