"""docs/notebook.ipynb, executed cell by cell as Jupyter would, with only ``import radonspec``.

The notebook fits the seed radon study; here its sampler settings are reduced (the same
models, priors and data, fewer draws) so the test runs in CI's time.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_notebook_runs_and_shows_each_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "specs" / "radon").mkdir(parents=True)
    seed = (ROOT / "specs" / "radon" / "seed.yaml").read_text()
    reduced = re.sub(r"draws: \d+", "draws: 100", re.sub(r"tune: \d+", "tune: 100", seed))
    assert reduced != seed
    (tmp_path / "specs" / "radon" / "seed.yaml").write_text(reduced)
    shutil.copy(ROOT / "radonspec.schema.json", tmp_path / "radonspec.schema.json")
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path / "docs")
    notebook = json.loads((ROOT / "docs" / "notebook.ipynb").read_text())
    namespace: dict[str, Any] = {}
    shown: list[Any] = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert "from radonspec" not in source and re.findall(r"^import (\w+)", source, re.M) in (
            [],
            ["radonspec"],
        )
        *body, last = source.strip().splitlines()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 100 draws: ArviZ's advice about short chains
            exec("\n".join(body), namespace)  # noqa: S102 - the notebook is ours
            shown.append(eval(last, namespace))  # noqa: S307
    study, fits, tree, comparison, results, parameters, effects, written = shown
    assert "hierarchical_nc" in study._repr_html_()
    assert set(fits) == {"pooled", "unpooled", "hierarchical", "hierarchical_nc"}
    assert "posterior" in tree.children
    assert comparison.criterion == "loo" and "<table" in comparison._repr_html_()
    assert "<table" in results._repr_html_() and "best by loo" in repr(results)
    assert "floor" in parameters.index and {"group", "term", "sd_mean"} <= set(effects.columns)
    assert all(Path(path).is_file() for path in written.values())
    assert (tmp_path / "radonspec-out" / "notebook" / "report.html").is_file()
