"""Data that ``validate`` accepted and ``run`` could not use, or used wrongly.

Each case is refused by ``validate`` in one located line naming the column (and the row
where one is to blame) with what to do; or, where ``run`` can fit the model, accepted.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radonspec.cli.app import app
from radonspec.compile.validate import validate
from radonspec.errors import SpecError, SpecErrors

ROWS = 30
BASE = pd.DataFrame(
    {
        "y": np.linspace(0.5, 3.5, ROWS),
        "x": np.tile([0.0, 1.0, 2.0], ROWS // 3),
        "g": [f"g{i % 4}" for i in range(ROWS)],
        "t": ["a", "b", "c"] * (ROWS // 3),
        "sigma": np.arange(ROWS, dtype=float),
        "mu": np.arange(ROWS, dtype=float),
        "nu": np.arange(ROWS, dtype=float),
        "c": np.ones(ROWS),
    }
)


def study(
    tmp_path: Path, formula: str, *, categorical: str = "[g]", family: str = "gaussian"
) -> Path:
    """A one-model study of ``d.csv``; its formula is on line 8."""
    (tmp_path / "s.yaml").write_text(
        "spec_version: 1\nname: t\ndata:\n  path: d.csv\n"
        f"  categorical: {categorical}\nmodels:\n  m:\n    formula: {formula}\n"
        f"    family: {family}\n"
    )
    return tmp_path / "s.yaml"


def refused(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        validate(path)
    errors = info.value.errors if isinstance(info.value, SpecErrors) else [info.value]
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert error.location is not None and "\n" not in str(error)
    return error


@pytest.mark.parametrize(
    ("formula", "options", "pattern"),
    [
        pytest.param(
            "t ~ x",
            {},
            r"model 'm': the response 't' is text or categorical \(3 levels: 'a', 'b', 'c'\),"
            r" and family 'gaussian' needs numbers; a response with levels needs family"
            r" 'bernoulli' \(two levels; name the event as t\[level\] ~ \.\.\.\), 'categorical'",
            id="text-response",
        ),
        pytest.param(
            "x ~ y",
            {"categorical": "[g, x]"},
            r"the response 'x' is text or categorical \(3 levels: '0\.0', '1\.0', '2\.0'\).*"
            r" if the values are numbers, remove 'x' from data\.categorical",
            id="numeric-response-listed-as-categorical",
        ),
        pytest.param(
            "y ~ sigma",
            {},
            r"column 'sigma' has the name of the gaussian family's parameter 'sigma', which"
            r" Bambi cannot tell apart from it; rename the column in the data",
            id="column-named-sigma",
        ),
        pytest.param(
            "mu ~ x", {}, r"column 'mu' has the name of the gaussian family's parameter 'mu'",
            id="response-named-mu",
        ),
        pytest.param(
            "y ~ nu", {"family": "t"}, r"column 'nu' has the name of the t family's parameter 'nu'",
            id="column-named-nu",
        ),
        pytest.param(
            "y ~ y + x",
            {},
            r"the response 'y' is also a predictor in 'y ~ y \+ x'; remove it from the right"
            r" side of '~'",
            id="response-as-predictor",
        ),
        pytest.param(
            "y ~ y + (x || g)",
            {},
            r"the response 'y' is also a predictor in 'y ~ y \+ \(x \|\| g\)'",
            id="response-as-predictor-with-double-bar",  # formulae cannot read || raw
        ),
        pytest.param(
            "c ~ x",
            {},
            r"the response 'c' has the same value \(1\.0\) in every row used; there is nothing"
            r" to model",
            id="zero-variance-response",
        ),
        pytest.param(
            "y ~ log(x)",
            {},
            r"term 'log\(x\)' is -inf in 10 rows, first at row 1 of the rows used; a"
            r" transform is undefined there \(log or sqrt of a value <= 0",
            id="log-of-zero",
        ),
        pytest.param(
            "y ~ g:t",
            {"categorical": "[g, t]"},
            None,  # 12 columns: fine
            id="small-interaction-is-fine",
        ),
        pytest.param(
            "y ~ g + g:t + t",
            {"categorical": "[g, t]"},
            r"Bambi cannot build an interaction written before one of its main effects"
            r" \('g:t' before 't'\); write 't' first, e\.g\. \.\.\. \+ t \+ g:t",
            id="interaction-before-its-main-effect",  # formulae: "list index out of range"
        ),
        pytest.param(
            "y ~ g + t + g:t", {"categorical": "[g, t]"}, None, id="main-effects-first-is-fine"
        ),
    ],
)  # fmt: skip
def test_data_validate_used_to_accept_is_refused_in_one_located_line(
    tmp_path: Path, formula: str, options: dict[str, str], pattern: str | None
) -> None:
    BASE.to_csv(tmp_path / "d.csv", index=False)
    path = study(tmp_path, formula, **options)
    if pattern is None:
        validate(path)
        return
    error = refused(path)
    assert error.line == 8, error
    assert re.search(pattern, error.message), error.message


def test_a_parquet_string_response_under_a_numeric_family_is_refused(tmp_path: Path) -> None:
    table = pa.table({"y": pa.array(["low", "mid", "high"] * 10), "x": np.arange(30.0)})
    pq.write_table(table, tmp_path / "d.parquet")
    (tmp_path / "s.yaml").write_text(
        "spec_version: 1\nname: t\ndata: {path: d.parquet}\nmodels:\n  m:\n    formula: y ~ x\n"
    )
    error = refused(tmp_path / "s.yaml")
    assert "the response 'y' is text or categorical" in error.message


def test_a_nul_byte_in_a_group_level_is_refused_before_sampling(tmp_path: Path) -> None:
    frame = BASE.copy()
    frame.loc[5, "g"] = "g\x001"
    frame.to_csv(tmp_path / "d.csv", index=False)
    error = refused(study(tmp_path, "y ~ x + (1|g)"))
    assert error.message.endswith(
        "data file d.csv: column 'g' has a value with a NUL byte (row 6: 'g\\x001');"
        " remove the NUL from the data"
    ), error.message


def test_gamma_with_an_identity_link_validates_as_run_fits_it(tmp_path: Path) -> None:
    BASE.to_csv(tmp_path / "d.csv", index=False)
    path = study(tmp_path, "y ~ x", family="gamma")
    path.write_text(path.read_text() + "    link: identity\n")
    assert list(validate(path).models) == ["m"]


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_data_path_that_is_no_file_says_what_it_is(tmp_path: Path, kind: str) -> None:
    if kind == "folder":
        (tmp_path / "d.csv").mkdir()
        what = "is a folder"
    else:
        os.mkfifo(tmp_path / "d.csv")
        what = r"is not a regular file \(a FIFO, socket or device\)"
    error = refused(study(tmp_path, "y ~ x"))
    assert re.search(rf"data file d\.csv \(.*d\.csv\) {what}; name a \.csv", error.message)
    assert error.line == 4


def test_an_unreadable_data_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    BASE.to_csv(tmp_path / "d.csv", index=False)
    path = study(tmp_path, "y ~ x")
    target = str(tmp_path / "d.csv")
    real_open = os.open

    def no_access(name: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(name) == target:  # root reads any file: this is what a user without rights sees
            raise PermissionError(errno.EACCES, "Permission denied", target)
        return real_open(name, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", no_access)
    error = refused(path)
    assert error.message == "cannot read data file d.csv (Permission denied); check its permissions"


def test_a_located_data_error_comes_without_a_pandas_warning(tmp_path: Path) -> None:
    # pandas reads big files in chunks and warns (DtypeWarning) when a column's type
    # changes between them; with warnings as errors this test sees any such warning
    rows = 300_000
    frame = pd.DataFrame({"y": np.arange(rows) % 7 * 0.5, "x": (np.arange(rows) % 3).astype(str)})
    frame.loc[rows - 1, "x"] = "abc"
    frame["g"] = "g" + (np.arange(rows) % 4).astype(str)
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = CliRunner().invoke(app, ["validate", str(study(tmp_path, "y ~ x"))])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"column 'x' mixes numbers and text (row {rows}: 'abc')" in lines[0]


def test_an_interaction_too_large_to_build_is_refused_before_building(tmp_path: Path) -> None:
    rows = 4000
    rng = np.random.default_rng(1)
    pd.DataFrame(
        {
            "y": rng.normal(size=rows),
            "a": rng.integers(0, 200, rows),
            "b": rng.integers(0, 200, rows),
        }
    ).to_csv(tmp_path / "d.csv", index=False)
    error = refused(study(tmp_path, "y ~ a:b", categorical="[a, b]"))
    assert re.search(
        r"term 'a:b' brings the population-level terms to \d\d,\d{3} columns, more than the"
        r" 20,000 allowed; model many levels as a group-specific term instead",
        error.message,
    ), error.message
