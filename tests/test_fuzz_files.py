"""Hostile files: fuzzed data (CSV, Parquet) and tampered store files.

Data, for every generated file: reading it gives prepared data that can be stored with
a fit (NetCDF, as the store writes it), or a ``DataError`` of one line naming the file;
through ``validate``, a ``Study`` whose data can be stored or located ``SpecError``s;
never another exception or a warning (warnings are errors in this suite).

Store, for every tampering of a stored fit's ``meta.json``, ``fit.nc`` or the index:
``get``, ``verify``, ``runs`` and ``radonspec runs`` serve the fit, miss, or say what is
wrong in one line; nothing outside the store changes.

Examples are derandomised as in ``test_fuzz.py`` (``RADONSPEC_FUZZ_RANDOM=1`` searches
afresh); ``RADONSPEC_FUZZ_FILE_EXAMPLES`` sets how many (each example writes files and
some build a Bambi model, so fewer than for specs).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import RANDOM
from typer.testing import CliRunner

from radonspec.cli.app import app
from radonspec.compile.validate import validate
from radonspec.data.load import load_data, prepare
from radonspec.errors import DataError, SpecError, SpecErrors, StoreError
from radonspec.fit.record import Fit
from radonspec.fit.store import Store

EXAMPLES = int(os.environ.get("RADONSPEC_FUZZ_FILE_EXAMPLES", "200"))
FILES = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    print_blob=RANDOM,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: Building a Bambi model per example costs about a second: fewer of those.
SLOW = settings(FILES, max_examples=max(1, EXAMPLES // 8))
USED = ["g", "x", "y"]

# -- data files ------------------------------------------------------------------------------

NAMES = st.sampled_from(
    ["y", "x", "g", "y", "x", "g", "sigma", "mu", "Intercept", "y.1", "", " x", "X", "g\x00",
     "é", "__obs__", "1x", "a,b", '"y"', "\ufeffy"]
)  # fmt: skip
CELLS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.sampled_from(
        ["", "NA", "nan", "inf", "-inf", "1e308", "1e309", "-0", "TRUE", "false", "1,000",
         "2,5", "12%", "$3", '"a,b"', '"two\nlines"', "a\x00b", "\u202e", "\ufeff", "é",
         "abc", " 1 ", "0x1F", "g1", "g2", "[/x]", "<script>", "\x1b[31m"]
    ),
    st.text(max_size=5),
)  # fmt: skip


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(NAMES, min_size=1, max_size=5))
    if draw(st.booleans()):  # mostly a usable header, so the values get exercised
        names = ["y", "x", "g", *names[3:]]
    rows = draw(st.lists(st.lists(CELLS, min_size=len(names), max_size=len(names)), max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([",".join(names), *(",".join(row) for row in rows)]) + newline
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace")


COLUMN_TYPES = st.sampled_from(
    ["int", "float", "string", "bool", "uint64", "null", "dictionary", "timestamp", "list"]
)


@st.composite
def parquet_files(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(NAMES, min_size=1, max_size=4))
    if draw(st.booleans()):
        names = ["y", "x", "g", *names[3:]]
    n = draw(st.integers(0, 6))
    columns = []
    for _ in names:
        kind = draw(COLUMN_TYPES)
        if kind == "int":
            values: Any = pa.array(draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n,
                                                 max_size=n)), pa.int64())  # fmt: skip
        elif kind == "float":
            values = pa.array(draw(st.lists(st.floats(), min_size=n, max_size=n)), pa.float64())
        elif kind in ("string", "dictionary"):
            values = pa.array(draw(st.lists(CELLS, min_size=n, max_size=n)), pa.string())
            values = values.dictionary_encode() if kind == "dictionary" else values
        elif kind == "bool":
            values = pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        elif kind == "uint64":
            values = pa.array([2**64 - 1] * n, pa.uint64())
        elif kind == "null":
            values = pa.nulls(n)
        elif kind == "timestamp":
            values = pa.array([0] * n, pa.timestamp("s"))
        else:
            values = pa.array([[1, 2]] * n)
        columns.append(values)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, names=names), buffer)
    return buffer.getvalue()


def storable(frame: pd.DataFrame) -> None:
    """Write ``frame`` as a fit's observed data and level coordinates are written."""
    variables = {}
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [str(level) for level in series.cat.categories]
            variables[f"{column}_code"] = xr.DataArray(series.cat.codes.to_numpy(), dims="__obs__")
            variables[f"{column}_levels"] = xr.DataArray(
                np.array(levels, dtype=object), dims=f"{column}__factor_dim",
                coords={f"{column}__factor_dim": levels},
            )  # fmt: skip
        else:
            variables[column] = xr.DataArray(series.to_numpy(dtype=float), dims="__obs__")
    xr.Dataset(variables).to_netcdf(engine="h5netcdf")


def _one_line_naming(exc: BaseException, name: str) -> None:
    text = str(exc)
    assert "\n" not in text, text
    assert name in text, text


@FILES
@given(st.data())
def test_data_files_load_storably_or_are_refused_in_one_line(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["csv", "parquet"]))
    content = data.draw(csv_files() if kind == "csv" else parquet_files())
    name = f"d.{kind}"
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / name).write_bytes(content)
        spec = _data_spec(name)
        try:
            frame = load_data(spec, base, USED)
            prepared = prepare(frame, spec, USED)
        except DataError as exc:
            _one_line_naming(exc, name)
            return
        storable(prepared.frame)
        assert len(prepared.fingerprint) == 64


def _data_spec(name: str) -> Any:
    from radonspec.study.schema import DataSpec

    return DataSpec(path=name, categorical=("g",))


STUDY = textwrap.dedent("""\
    spec_version: 1
    name: fuzz
    data: {{path: {name}, categorical: [g]}}
    defaults:
      sampler: {{draws: 10, tune: 10, chains: 1}}
    models:
      pooled: {{formula: y ~ x}}
      varying: {{formula: y ~ x + (1|g)}}
    """)


@pytest.fixture(scope="module")
def imported() -> None:
    """Import what building a model imports before Hypothesis runs (PyTensor raises the
    recursion limit on import, which Hypothesis takes for a test changing it)."""
    import bambi  # noqa: F401
    import pytensor  # noqa: F401


@SLOW
@given(st.data())
def test_validate_accepts_only_data_a_fit_can_store(imported: None, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["csv", "parquet"]))
    content = data.draw(csv_files() if kind == "csv" else parquet_files())
    name = f"d.{kind}"
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / name).write_bytes(content)
        (base / "s.yaml").write_text(STUDY.format(name=name))
        try:
            study = validate(base / "s.yaml", initial_point=False)
        except SpecError as exc:
            errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
            for error in errors:
                assert error.location is not None and "\n" not in str(error), str(error)
            return
        frame = load_data(study.data, base, USED)
        storable(prepare(frame, study.data, USED).frame)


# -- tampered store files -------------------------------------------------------------------

KEY = "ab" + "1" * 62
OTHER = "cd" + "2" * 62
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["[/x]", "[link=https://e.example]x[/link]", "\x1b]8;;x\x1b\\", "ok",
                     "failed", KEY, OTHER, "../../etc/passwd", "fit.nc", "\x00"]),
)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),  # fmt: skip
    max_leaves=6,
)
META_KEYS = st.sampled_from(
    ["key", "model", "study", "status", "error", "seconds", "versions", "created", "file",
     "size", "checksum", "diagnostics", "backend", "spec", "rows"]
)  # fmt: skip
TAMPERING = st.one_of(
    st.tuples(st.just("meta-fields"), st.dictionaries(META_KEYS, JSON_VALUES, min_size=1)),
    st.tuples(st.just("meta-whole"), JSON_VALUES),
    st.tuples(st.just("meta-bytes"), st.binary(max_size=64)),
    st.tuples(st.just("fit-bytes"), st.binary(max_size=64)),
    st.tuples(st.just("fit-truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("index-bytes"), st.binary(max_size=200)),
)


def _tree(seed: int) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    coords = {"chain": [0], "draw": np.arange(5)}
    return xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(1, 5)))}, coords)}
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("pristine") / "store"
    store = Store(root)
    store.put(Fit("m", KEY, "ok", _tree(1), {"total": 1.0}, {}), {"study": "s"})
    store.put(Fit("n", OTHER, "ok", _tree(2), {"total": 1.0}, {}), {"study": "s"})
    yield root


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@FILES
@given(TAMPERING)
def test_tampered_store_files_are_served_missed_or_refused_in_one_line(
    pristine: Path, tampering: tuple[str, Any]
) -> None:
    how, value = tampering
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "store"
        shutil.copytree(pristine, root)
        outside = Path(folder) / "outside"
        outside.mkdir()
        (outside / "canary.txt").write_text("keep")
        meta_path = Store(root).folder(KEY) / "meta.json"
        fit_path = Store(root).folder(KEY) / "fit.nc"
        if how == "meta-fields":
            meta = json.loads(meta_path.read_text())
            meta.update(value)
            meta_path.write_text(json.dumps(meta))
        elif how == "meta-whole":
            meta_path.write_text(json.dumps(value))
        elif how == "meta-bytes":
            meta_path.write_bytes(value)
        elif how == "fit-bytes":
            fit_path.write_bytes(value)
        elif how == "fit-truncate":
            with open(fit_path, "r+b") as handle:
                handle.truncate(min(value, fit_path.stat().st_size))
        else:
            for suffix in ("-wal", "-shm"):
                Path(f"{root / 'index.sqlite'}{suffix}").unlink(missing_ok=True)
            (root / "index.sqlite").write_bytes(value)
        before = _digest(outside)
        store = Store(root)
        hit = store.get(KEY)
        assert hit is None or (hit.status == "ok" and hit.tree is not None)
        other = store.get(OTHER)
        assert other is not None, "an untouched fit must still be served"
        assert isinstance(store.verify(), list)
        try:
            records = store.runs()
            assert all(isinstance(r.key, str) for r in records)
        except StoreError as exc:
            assert "\n" not in str(exc)
        result = CliRunner().invoke(app, ["runs", "--store", str(root)])
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        assert "\x1b]8;" not in result.output
        assert _digest(outside) == before


def test_a_parquet_file_with_two_columns_of_one_name_is_one_line(tmp_path: Path) -> None:
    # found by the search above: pyarrow's error quoted the whole schema, line by line
    table = pa.Table.from_arrays([pa.array([1.0, 2.0])] * 4, names=["y", "x", "g", "y"])
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(DataError) as info:
        load_data(_data_spec("d.parquet"), tmp_path, USED)
    assert str(info.value) == (
        "data file d.parquet has two columns named 'y' (columns 1 and 4); rename one so each"
        " column has its own name"
    )
