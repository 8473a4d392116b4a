"""A sweep's cells share one compile per structure: prior values are inputs of the compiled model.

Cells that differ only in prior scale have one structure, so with nutpie the first cell a
process fits compiles and the others are fed their data and prior values. The checks that
matter: each cell's posterior is the one its own priors give (a prior 1000 times narrower
pulls the slope to zero; a stale prior value would not), and a cell sampled through a
kept compile draws exactly what the same cell draws through a fresh compile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.api import fit_study, load_study
from radonspec.fit import compile_cache
from radonspec.fit.runner import plan_study
from radonspec.study.schema import Study

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # Bambi's deprecations
    pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning"),
]

STUDY = """\
spec_version: 1
name: sweep-compiles
data:
  path: data.csv
  categorical: [g]
defaults:
  sampler: {draws: 150, tune: 150, chains: 1, seed: 3}
models:
  base:
    formula: y ~ x + (1|g)
    priors:
      x: Normal(0, 10)  # the only explicit prior: the one prior_scale scales
  other:
    formula: y ~ x
sweep:
  base: base
  over:
    prior_scale: [0.0001, 1]
"""


@pytest.fixture
def study(tmp_path: Path) -> Study:
    rng = np.random.default_rng(1)
    g = np.repeat([f"g{i}" for i in range(8)], 10)
    x = rng.normal(size=80)
    y = 1.0 + 2.0 * x + np.repeat(rng.normal(size=8), 10) + rng.normal(scale=0.5, size=80)
    pd.DataFrame({"y": y, "x": x, "g": g}).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "study.yaml").write_text(STUDY)
    return load_study(tmp_path / "study.yaml")


def test_a_sweeps_cells_are_planned_to_share_a_compile_and_other_models_are_not(
    study: Study,
) -> None:
    planned = {item.label: item for item in plan_study(study)}
    cells = [name for name in planned if name.startswith("base")]
    assert len(cells) == 2
    assert all(planned[name].shared for name in cells)
    assert len({planned[name].group for name in cells}) == 1
    assert not planned["other"].shared and planned["other"].group == ""
    # on the PyMC backend a sweep compiles as every fit does, and its key says so
    pymc = study.model_copy(
        update={
            "models": {
                name: spec.model_copy(
                    update={"sampler": spec.sampler.model_copy(update={"backend": "pymc"})}
                )
                for name, spec in study.models.items()
            }
        }
    )
    assert not any(item.shared for item in plan_study(pymc))


@pytest.mark.slow
def test_cells_fitted_in_one_process_compile_once_and_keep_their_own_priors(
    study: Study, tmp_path: Path
) -> None:
    cells = [name for name in study.models if name.startswith("base")]
    narrow = next(name for name in cells if name != "base")
    compile_cache.CACHE.clear()
    try:
        fits = fit_study(study, models=cells, jobs=1, store=tmp_path / "store")
        assert all(fit.ok for fit in fits.values()), {n: f.error for n, f in fits.items()}
        records = [fits[name].meta["compile"] for name in cells]
        # one compiles, the other (whichever is fitted second) reuses it
        assert sorted(record["reused"] for record in records) == [False, True]
        assert len({record["structure"] for record in records}) == 1
        slope = {name: float(fits[name].tree.posterior["x"].mean()) for name in cells}
        # the data say about 2; Normal(0, 0.001) says 0 and wins
        assert abs(slope["base"] - 2.0) < 0.3, slope
        assert abs(slope[narrow]) < 0.01, slope
        compile_cache.CACHE.clear()
        fresh = fit_study(study, models=[narrow], jobs=1, store=tmp_path / "fresh", force=True)[
            narrow
        ]
    finally:
        compile_cache.CACHE.clear()
    assert not fresh.meta["compile"]["reused"]
    for group in ("posterior", "sample_stats", "log_likelihood"):
        reused = fits[narrow].tree[group].to_dataset()
        assert reused.equals(fresh.tree[group].to_dataset()), group
