"""Contender: nutpie called directly on the PyMC model Bambi builds for the hierarchical model.

``bmb.Model(...).build()``, then ``nutpie.compile_pymc_model`` and ``nutpie.sample``: no
log-likelihood, no posterior predictive, no comparison; the fastest honest way to draws.

Run: ``python -m bench.contenders.nutpie_direct --result out.json``.
"""

from __future__ import annotations

import argparse
import time

from bench.contenders.shared import min_bulk_ess, radon_model, sampler_arguments, write_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sampler_arguments(parser)
    args = parser.parse_args(argv)

    import nutpie

    started = time.perf_counter()
    model = radon_model("hierarchical", args.data)
    model.build()
    built = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model.backend.model)
    tick = time.perf_counter()
    trace = nutpie.sample(
        compiled,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        target_accept=args.target_accept,
        progress_bar=False,
    )
    sampled = time.perf_counter()
    ess, worst = min_bulk_ess(trace)
    write_result(
        args.result,
        {
            "models": {
                "hierarchical": {
                    "build_s": built - started,
                    "compile_s": tick - built,
                    "sample_s": sampled - tick,
                    "fit_s": sampled - started,
                    "ess_bulk_min": ess,
                    "ess_bulk_min_var": worst,
                }
            },
            "script_s": time.perf_counter() - started,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
