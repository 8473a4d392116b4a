"""Data as people export it: every fault is accepted with a correct result or refused.

A refusal is one sentence naming the file, the column and, where it helps, the row or
line; through ``radonspec validate`` it is located at the spec's ``data.path`` line
and exits 1. Big inputs are read in bounded memory (checked in a subprocess).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from radonspec.cli.app import app
from radonspec.compile.model import compile_model
from radonspec.data.load import MAX_LEVELS, load_data, prepare
from radonspec.errors import DataError
from radonspec.study.loader import load_study
from radonspec.study.schema import DataSpec

ROWS = "".join(f"{i * 0.1:.1f},{i % 2},g{i % 3}\n" for i in range(30))
QUOTED = '"y","x","g"\n' + "".join(f'"{i * 0.1:.1f}",{i % 2},"g{i % 3}"\n' for i in range(30))


def csv(tmp_path: Path, content: str | bytes, name: str = "d.csv") -> DataSpec:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return DataSpec(path=name, categorical=("g",))


def read(tmp_path: Path, content: str | bytes, columns: tuple[str, ...] = ("y", "x", "g")):
    spec = csv(tmp_path, content)
    frame = load_data(spec, tmp_path, list(columns))
    return prepare(frame, spec, list(columns))


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        pytest.param(b"", r"^data file d\.csv is empty; it needs a header row and data$",
                     id="empty"),
        pytest.param(
            b"y,x,g\n", r"^data file d\.csv: no rows left; the file has a header only$", id="header"
        ),
        pytest.param(
            "y;x;g\n1;0;a\n2;1;b\n",
            r"^data file d\.csv reads as one column, 'y;x;g': it looks delimited by ';', and"
            r" radonspec reads comma-separated CSV; save it with ',' as the delimiter",
            id="semicolon",
        ),
        pytest.param(
            "y\tx\tg\n1\t0\ta\n", r"reads as one column, 'y\\tx\\tg'.*delimited by TAB", id="tab"
        ),
        pytest.param(
            'y;x;g\n"1,5";"0,5";a\n', r"reads as one column.*delimited by ';'", id="decimal-comma"
        ),
        pytest.param(
            "y,x,g\n" + ROWS + "3.5,abc,g1\n",
            r"^data file d\.csv: column 'x' mixes numbers and text \(row 31: 'abc'\); fix that"
            r" value, or list the column under data\.categorical if it is a factor$",
            id="mixed-types",
        ),
        pytest.param(
            "y,x,g\n" + ROWS + "inf,1,g1\n",
            r"^data file d\.csv: column 'y' has 1 infinite value, first at row 31 \(inf\);"
            r" remove or replace them$",
            id="inf",
        ),
        pytest.param(
            "y,x,g\n" + "".join(f"{i},,g{i % 3}\n" for i in range(30)),
            r"^data file d\.csv: column 'x' has no values \(all NaN\)$",
            id="all-nan",
        ),
        pytest.param(
            "y,x,g\n" + ROWS.replace("0.5,", "NA,", 1),
            r"^data file d\.csv: missing values \(NaN\) in 'y' \(1 rows, first at row 6\); clean"
            r" the data or set data\.dropna: true to drop those rows$",
            id="na-strings",
        ),
        pytest.param(
            "y,x,g\n1.5,0,Gen\xe8ve\n".encode("latin-1"),
            r"^data file d\.csv is not UTF-8 \(byte 0xe8 at line 2, column 10\); re-save it as"
            r" UTF-8 CSV",
            id="latin-1",
        ),
        pytest.param(
            b"y,x,g\n" + ROWS.encode() * 200_000 + b"1.5,0,Z\xfcrich\n",
            r"is not UTF-8 \(byte 0xfc at line 6000002, column 8\)",
            id="latin-1-after-100MB",
        ),
        pytest.param(
            "y,x,x,g\n1,0,1,a\n",
            r"^data file d\.csv has two columns named 'x' \(columns 2 and 3\); rename one",
            id="duplicate-header",
        ),
        pytest.param(
            "y,x,g,name\n1,0,a,Smith\n2,1,b,Smith, J\n3,0,a,Doe\n",
            r"^data file d\.csv: a row does not match the header \(Expected 4 columns, got 5:"
            r" 2,1,b,Smith, J\); a ',' inside a value needs quotes",
            id="unquoted-comma",
        ),
        pytest.param(
            "y,x,g\n1,0,a\n2,1\n3,0,a\n",
            r"a row does not match the header \(Expected 3 columns, got 2: 2,1\)",
            id="short-row",
        ),
        pytest.param(
            'y,x,g\n1,"1,200",a\n2,"3,400",b\n3,"10,000",a\n',
            r"^data file d\.csv: column 'x' holds numbers written with formatting \(e\.g\."
            r" '1,200': a thousands separator",
            id="thousands-separator",
        ),
        pytest.param(
            "y,x,g\n1,12%,a\n2,15%,b\n", r"column 'x' holds numbers written with formatting",
            id="percent",
        ),
    ],
)  # fmt: skip
def test_faulty_csv_is_refused_naming_the_column(
    tmp_path: Path, content: str | bytes, pattern: str
) -> None:
    with pytest.raises(DataError, match=pattern) as info:
        read(tmp_path, content)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("\ufeffy,x,g\n" + ROWS, id="utf8-bom"),
        pytest.param(("y,x,g\n" + ROWS).replace("\n", "\r\n"), id="crlf"),
        pytest.param("y,x,g\n" + ROWS + "\n\n", id="trailing-blank-lines"),
        pytest.param("y,x,g\n" + ROWS.replace(",0,", ",FALSE,").replace(",1,", ",TRUE,"),
                     id="booleans"),
        pytest.param(QUOTED, id="all-quoted"),
    ],
)  # fmt: skip
def test_spreadsheet_quirks_read_the_same_values(tmp_path: Path, content: str) -> None:
    (tmp_path / "plain").mkdir()
    plain = read(tmp_path / "plain", "y,x,g\n" + ROWS)
    quirky = read(tmp_path, content)
    assert len(quirky.frame) == 30
    assert np.allclose(quirky.frame["y"].astype(float), plain.frame["y"].astype(float))
    assert np.array_equal(quirky.frame["x"].astype(int), plain.frame["x"].astype(int))
    assert list(quirky.frame["g"].astype(str)) == list(plain.frame["g"].astype(str))


def study_file(tmp_path: Path, data: str, formula: str = "y ~ x + (1|g)") -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            spec_version: 1
            name: faults
            data:
              path: {data}
              categorical: [g]
            models:
              m:
                formula: {formula}
            """
        )
    )
    return path


def test_a_group_with_one_row_is_kept_as_a_level(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("y,x,g\n" + ROWS + "2.5,1,lonely\n")
    study = load_study(study_file(tmp_path, "d.csv"))
    frame = load_data(study.data, tmp_path, ["y", "x", "g"])
    compiled = compile_model(study, "m", frame)
    levels = list(compiled.data.frame["g"].cat.categories)
    assert levels == ["g0", "g1", "g2", "lonely"]
    assert (compiled.data.frame["g"] == "lonely").sum() == 1
    assert len(compiled.data.frame) == 31


def test_thousands_of_levels_are_accepted(tmp_path: Path) -> None:
    n = 5000
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "y": rng.normal(size=2 * n),
            "x": rng.integers(0, 2, 2 * n),
            "g": [f"id{i % n}" for i in range(2 * n)],
        }
    ).to_csv(tmp_path / "d.csv", index=False)
    study = load_study(study_file(tmp_path, "d.csv"))
    frame = load_data(study.data, tmp_path, ["y", "x", "g"])
    compiled = compile_model(study, "m", frame)
    assert len(compiled.data.frame["g"].cat.categories) == n
    compiled.model.build()
    assert len(compiled.model.backend.model.coords["g__factor_dim"]) == n


def test_too_many_levels_are_refused_naming_the_column(tmp_path: Path) -> None:
    n = MAX_LEVELS + 1
    (tmp_path / "d.csv").write_text("y,x,g\n" + "".join(f"1,0,id{i}\n" for i in range(n)))
    with pytest.raises(
        DataError,
        match=rf"categorical column 'g' has {n:,} levels, more than {MAX_LEVELS:,}; is it an"
        r" identifier\?",
    ):
        load_data(csv(tmp_path, (tmp_path / "d.csv").read_bytes()), tmp_path, ["y", "x", "g"])


def test_nested_parquet_is_refused_only_when_used(tmp_path: Path) -> None:
    table = pa.table(
        {
            "y": [1.0, 2.0, 3.0],
            "x": [0, 1, 0],
            "g": ["a", "b", "a"],
            "tags": [[1], [2, 3], []],
            "where": [{"lat": 1.0}, {"lat": 2.0}, {"lat": 3.0}],
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    spec = DataSpec(path="d.parquet", categorical=("g",))
    assert len(load_data(spec, tmp_path, ["y", "x", "g"])) == 3
    for column, kind in (("tags", r"list<"), ("where", r"struct<")):
        with pytest.raises(
            DataError, match=rf"column '{column}' has nested type {kind}.*flatten it into plain"
        ):
            load_data(spec, tmp_path, ["y", column])


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_text("y,x\n1,2\n")
    with pytest.raises(DataError, match=r"^data file d\.parquet is not a readable Parquet file"):
        load_data(DataSpec(path="d.parquet"), tmp_path, ["y", "x"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("y;x;g\n1;0;a\n", r"study\.yaml:4:9: data file d\.csv reads as one column"),
        ("y,x,g\n" + ROWS + "3.5,abc,g1\n", r"study\.yaml:4:9: data file d\.csv: column 'x' mixes"),
        ("", r"study\.yaml:4:9: data file d\.csv is empty"),
        ("y,x,g\n" + ROWS + "inf,1,g1\n",
         r"study\.yaml:8:14: model 'm': data file d\.csv: column 'y' has 1 infinite value"),
    ],
)  # fmt: skip
def test_validate_reports_a_broken_csv_in_one_located_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text(content)
    study_file(tmp_path, "d.csv")
    result = CliRunner().invoke(app, ["validate", "study.yaml"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: study.yaml:")
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output


BIG_ROWS = 10_000_000
# The child's own high-water mark (VmHWM): ru_maxrss survives exec on Linux and would
# report the pytest process's size at the fork instead (1.7 GB late in a full run).
_MEASURE = """
import json, resource, sys, time
from pathlib import Path
def peak_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from radonspec.data.load import load_data, prepare
from radonspec.study.schema import DataSpec
spec = DataSpec(path="big.csv", categorical=("g",))
started = time.perf_counter()
frame = load_data(spec, Path(sys.argv[1]), ["y", "x", "g"])
prepared = prepare(frame, spec, ["y", "x", "g"])
print(json.dumps({
    "rows": len(prepared.frame), "levels": len(prepared.frame["g"].cat.categories),
    "seconds": time.perf_counter() - started,
    "peak_mb": peak_mb(),
}))
"""


@pytest.mark.slow
def test_ten_million_rows_load_in_bounded_memory(tmp_path: Path) -> None:
    # 100,000 distinct rows repeated: fast to write, and the reader cannot tell
    rng = np.random.default_rng(0)
    block = pd.DataFrame(
        {
            "y": np.round(rng.normal(size=100_000), 3),
            "x": rng.integers(0, 2, 100_000),
            "g": np.char.add("county", rng.integers(0, 85, 100_000).astype(str)),
            "note": "an unused text column that must not be loaded",
            "z": np.round(rng.normal(size=100_000), 2),
        }
    ).to_csv(index=False, header=False)
    with open(tmp_path / "big.csv", "w") as handle:
        handle.write("y,x,g,note,z\n")
        for _ in range(BIG_ROWS // 100_000):
            handle.write(block)
    size_mb = (tmp_path / "big.csv").stat().st_size / 1e6
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["rows"] == BIG_ROWS and found["levels"] == 85
    # three used columns are 10^7 x (8 + 8 + 1) bytes once typed; the bound leaves room for
    # the parser's buffers and the interpreter, and stays far below the 580 MB file's
    # worth of Python strings that reading 'note' would cost
    assert found["peak_mb"] < 1200, (found, size_mb)
