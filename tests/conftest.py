from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"

# Let Bambi and PyTensor keep their compile caches inside the test session's temp tree
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a dedented YAML text to ``tmp_path/name`` and return its path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test with the temporary folder as working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- a fake sampler: real fits once per session, replayed for every fit after -------------
#
# Unit tests of the plumbing (planning, the store, the API, exit codes, report reuse, the
# k-fold path) need fits whose draws do not matter. Each model of the toy study is sampled
# for real once per test session (tiny draws); ``fake_sampler`` then answers every fit of a
# model of that name with a copy of its recorded tree, in microseconds, and counts calls.

TOY_STUDY = """\
spec_version: 1
name: toy
data: {path: toy.csv, categorical: [g]}
defaults:
  sampler: {draws: 60, tune: 60, chains: 2}
models:
  pooled:
    formula: y ~ x
    priors: {x: "Normal(0, 5)"}
  varying:
    formula: y ~ x + (1|g)
report:
  group: g
  predictor: x
"""


def censored_model(status: list[str]) -> Any:
    """A Bambi model of ``censored(t, c) ~ x``, exponential, one row per status (unsampled)."""
    import warnings

    import bambi as bmb
    import pandas as pd

    n = len(status)
    data = pd.DataFrame(
        {"t": [3.0 + i for i in range(n)], "c": status, "x": [i % 2 for i in range(n)]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bmb.Model("censored(t, c) ~ x", data, family="exponential")


def toy_frame(seed: int = 3) -> Any:
    """40 rows in 5 groups: y = a[g] + x + noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = np.repeat([f"g{i}" for i in range(5)], 8)
    x = rng.normal(size=40)
    a = rng.normal(0, 0.5, 5)
    y = 0.5 + np.repeat(a, 8) + x + rng.normal(0, 0.3, 40)
    return pd.DataFrame({"y": y, "x": x, "g": g})


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """The toy study and its data in ``tmp_path``; returns the study file."""
    toy_frame().to_csv(tmp_path / "toy.csv", index=False)
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_STUDY)
    return path


@dataclass
class FakeSampler:
    """Counts the fits asked of it, by label."""

    calls: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def recorded_trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The toy study's models sampled for real, once per session."""
    import warnings

    from radonspec.api import fit_study

    folder = tmp_path_factory.mktemp("recorded")
    toy_frame().to_csv(folder / "toy.csv", index=False)
    (folder / "toy.yaml").write_text(TOY_STUDY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_study(folder / "toy.yaml", store=folder / "store", jobs=1)
    trees = {}
    for name, fit in fits.items():
        assert fit.ok and fit.tree is not None, fit.error
        trees[name] = fit.tree.load()
    return trees


@pytest.fixture
def fake_sampler(monkeypatch: pytest.MonkeyPatch, recorded_trees: dict[str, Any]) -> FakeSampler:
    """Answer every fit with a copy of its model's recorded tree; count the calls."""
    from radonspec.fit import sample
    from radonspec.fit.record import Fit

    fake = FakeSampler()

    def sample_model(compiled: Any, *, key: str, label: str | None = None,
                     posterior_only: bool = False, **kwargs: Any) -> Fit:  # fmt: skip
        name = label or compiled.name
        fake.calls.append(name)
        if compiled.name not in recorded_trees:  # as a real sampler's failure comes back
            return Fit(model=name, key=key, status="failed", tree=None,
                       error=f"no recorded draws for '{compiled.name}'")  # fmt: skip
        tree = recorded_trees[compiled.name].copy()
        if posterior_only:
            tree = tree.filter(lambda node: node.name in (None, "posterior", "sample_stats"))
        return Fit(model=name, key=key, status="ok", tree=tree,
                   seconds={"sample": 0.0, "total": 0.0},
                   versions=sample.versions("nutpie"))  # fmt: skip

    monkeypatch.setattr(sample, "sample_model", sample_model)
    return fake
