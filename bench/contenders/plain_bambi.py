"""Contender: the seed study's models fitted with plain Bambi, then compared with ArviZ.

What a user writes without radonspec: build each model, ``fit`` it with the log-likelihood,
and ``arviz.compare`` the fits by LOO. ``--method default`` leaves ``inference_method`` at
Bambi's default (PyMC's NUTS); ``--method nutpie`` asks Bambi for nutpie.

Run: ``python -m bench.contenders.plain_bambi --result out.json [--method nutpie]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.contenders.shared import (
    MODELS,
    min_bulk_ess,
    radon_model,
    sampler_arguments,
    sampling_time,
    write_result,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sampler_arguments(parser)
    parser.add_argument("--method", choices=["default", "nutpie"], default="default")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--no-compare", action="store_true", help="skip arviz.compare")
    args = parser.parse_args(argv)

    import arviz as az

    started = time.perf_counter()
    fits: dict[str, Any] = {}
    models: dict[str, dict[str, Any]] = {}
    for name in args.models:
        tick = time.perf_counter()
        model = radon_model(name, args.data)
        kwargs: dict[str, Any] = {
            "draws": args.draws,
            "tune": args.tune,
            "chains": args.chains,
            "target_accept": args.target_accept,
            "random_seed": args.seed,
            "idata_kwargs": {"log_likelihood": True},
            "progressbar": False,
        }
        if args.method == "nutpie":
            kwargs["inference_method"] = "nutpie"
        fits[name] = model.fit(**kwargs)
        ess, worst = min_bulk_ess(fits[name])
        models[name] = {
            "fit_s": time.perf_counter() - tick,
            "sample_s": sampling_time(fits[name]),
            "ess_bulk_min": ess,
            "ess_bulk_min_var": worst,
        }
    table: list[dict[str, Any]] = []
    if not args.no_compare and len(fits) > 1:
        compared = az.compare(fits, round_to="none")
        table = [
            {"model": str(name), "elpd": float(row["elpd"]), "rank": int(row["rank"])}
            for name, row in compared.iterrows()
        ]
    write_result(
        args.result,
        {
            "method": args.method,
            "models": models,
            "comparison": table,
            "script_s": time.perf_counter() - started,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
