from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.data.datasets import bundled, info, load_bundled
from radonspec.data.load import columns_of, fingerprint, load_data, prepare
from radonspec.errors import DataError
from radonspec.study.schema import DataSpec


def test_radon_is_the_gelman_hill_table() -> None:
    frame = load_bundled("radon")
    assert list(frame.columns) == ["log_radon", "floor", "county", "log_uranium"]
    assert len(frame) == 919
    assert frame["county"].nunique() == 85
    assert set(frame["floor"].unique()) == {0, 1}
    assert frame["county"].iloc[0] == "AITKIN"
    assert not frame["county"].str.contains(r"^\s|\s$").any()
    # the classic numbers: mean log radon and the basement/first-floor split
    assert frame["log_radon"].mean() == pytest.approx(1.2246, abs=1e-3)
    assert int((frame["floor"] == 1).sum()) == 153


def test_provenance_checksum_matches_the_csv() -> None:
    meta = info("radon")
    raw = resources.files("radonspec.data.datasets").joinpath("radon.csv").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == meta.sha256
    assert "HLMdiag" in meta.source and "Gelman" in meta.citation
    assert any("basement" in step for step in meta.transforms)
    assert "radon" in bundled()


def test_unknown_dataset_suggests() -> None:
    with pytest.raises(DataError, match=r"no bundled data set 'radom' \(did you mean 'radon'\?\)"):
        info("radom")


def test_categorical_reference_filter(tmp_path: Path) -> None:
    spec = DataSpec(
        dataset="radon",
        categorical=("county",),
        reference={"county": "CASS"},
        filter={"county": ["CASS", "AITKIN"]},
    )
    frame = load_data(spec, tmp_path, ["log_radon", "county"])
    assert list(frame["county"].cat.categories) == ["CASS", "AITKIN"]
    assert len(frame) == 4 + 5


def test_csv_path_relative_to_spec(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    pd.DataFrame({"y": [1.0, 2.0, 3.0], "g": ["a", "b", "a"]}).to_csv(
        tmp_path / "d/x.csv", index=False
    )
    spec = DataSpec(path="d/x.csv")
    assert columns_of(spec, tmp_path) == ["y", "g"]
    frame = load_data(spec, tmp_path)
    assert isinstance(frame["g"].dtype, pd.CategoricalDtype)


def test_parquet(tmp_path: Path) -> None:
    pd.DataFrame({"y": [1.0, 2.0], "x": [0, 1]}).to_parquet(tmp_path / "x.parquet")
    spec = DataSpec(path="x.parquet")
    assert columns_of(spec, tmp_path) == ["y", "x"]
    assert load_data(spec, tmp_path)["y"].tolist() == [1.0, 2.0]


def test_nested_parquet_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"y": [1.0], "n": [[1, 2]]}), tmp_path / "n.parquet")
    with pytest.raises(DataError, match=r"column 'n' has nested type list<.*flatten it"):
        load_data(DataSpec(path="n.parquet"), tmp_path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"is empty; it needs a header row and data"),
        (b"y,x\n", r"no rows left; the file has a header only"),
        (b"y,x\n1,caf\xe9\n", r"is not UTF-8 \(byte 0xe9"),
    ],
)
def test_bad_csv(tmp_path: Path, content: bytes, pattern: str) -> None:
    (tmp_path / "x.csv").write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        load_data(DataSpec(path="x.csv"), tmp_path)


def test_wrong_delimiter_hint(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("y;x\n1;2\n")
    with pytest.raises(DataError, match=r"reads as one column, 'y;x': it looks delimited by ';'"):
        load_data(DataSpec(path="x.csv"), tmp_path, ["y", "x"])


def test_mixed_types_named_with_row(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("y,x\n1,2\n2,3\n3,oops\n4,5\n")
    with pytest.raises(DataError, match=r"column 'x' mixes numbers and text \(row 3: 'oops'\)"):
        load_data(DataSpec(path="x.csv"), tmp_path)


def test_nan_needs_dropna_and_is_counted(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("y,x\n1,2\n2,\n3,4\n,5\n")
    spec = DataSpec(path="x.csv")
    frame = load_data(spec, tmp_path)
    with pytest.raises(
        DataError,
        match=r"missing values \(NaN\) in 'y' \(1 rows, first at row 4\)"
        r", 'x' \(1 rows, first at row 2\); .*dropna: true",
    ):
        prepare(frame, spec, ["y", "x"])
    kept = prepare(frame, DataSpec(path="x.csv", dropna=True), ["y", "x"])
    assert kept.dropped == 2 and len(kept.frame) == 2


def test_inf_and_all_nan(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [1.0, np.inf, 2.0], "z": [np.nan, np.nan, np.nan]})
    spec = DataSpec(path="x.csv")
    with pytest.raises(DataError, match=r"column 'y' has 1 infinite value, first at row 2"):
        prepare(frame, spec, ["y"])
    with pytest.raises(DataError, match=r"column 'z' has no values \(all NaN\)"):
        prepare(frame, spec, ["z"])


def test_fingerprint_tracks_values_types_and_levels() -> None:
    base = pd.DataFrame({"y": [1.0, 2.0], "g": pd.Categorical(["a", "b"])})
    same = pd.DataFrame({"y": [1.0, 2.0], "g": pd.Categorical(["a", "b"])})
    assert fingerprint(base) == fingerprint(same)
    changed_value = base.assign(y=[1.0, 2.5])
    reordered = base.assign(g=pd.Categorical(["a", "b"], categories=["b", "a"]))
    assert len({fingerprint(base), fingerprint(changed_value), fingerprint(reordered)}) == 3


def test_prepare_keeps_only_used_columns() -> None:
    frame = load_bundled("radon")
    spec = DataSpec(dataset="radon")
    prepared = prepare(frame, spec, ["log_radon", "floor"])
    assert list(prepared.frame.columns) == ["log_radon", "floor"]
    other = prepare(frame.assign(log_uranium=0.0), spec, ["log_radon", "floor"])
    assert other.fingerprint == prepared.fingerprint  # unused columns do not matter


def test_none_is_a_level_not_a_missing_value(tmp_path: Path) -> None:
    """MASS's survey codes no exercise as 'None'; pandas' default reads it as missing."""
    path = tmp_path / "d.csv"
    path.write_text("Exer,Pulse\nNone,70\nSome,\nFreq,NA\n")
    frame = load_data(DataSpec(path="d.csv"), tmp_path)
    assert list(frame["Exer"].astype(str)) == ["None", "Some", "Freq"]
    assert frame["Pulse"].isna().tolist() == [False, True, True]
