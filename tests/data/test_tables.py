"""TableWriter: blocks written atomically, never over a file radonspec did not write."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from radonspec.data.tables import TableWriter
from radonspec.errors import DataError

BLOCK = pd.DataFrame({"x": [1.5, 2.5], "pred_mean": [0.1, 0.2], "new_group": [False, True]})


def writer(path: Path, **kwargs: object) -> TableWriter:
    return TableWriter(path, mark="predict", columns=("new_group",), prefix="pred_", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_blocks_become_one_file_and_a_rerun_replaces_it(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pred{suffix}"
    for _ in range(2):  # the second run replaces the file the first one wrote
        with writer(path) as table:
            table.write(BLOCK)
            table.write(BLOCK)
    read = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert len(read) == 4 and list(read.columns) == ["x", "pred_mean", "new_group"]
    assert read["new_group"].tolist() == [False, True, False, True]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    if suffix == ".parquet":
        assert pq.read_schema(path).metadata[b"radonspec"] == b"predict"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_radonspec_did_not_write_is_kept_unless_forced(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mine{suffix}"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match=r"mine\.\w+ exists and was not written by radonspec;"
                       " choose another output path, or pass --force to replace it$"):  # fmt: skip
        with writer(path) as table:
            table.write(BLOCK)
    assert path.read_text() == "x,y\n1,2\n"
    with writer(path, force=True) as table:
        table.write(BLOCK)
    assert path.stat().st_size > 0 and path.read_bytes() != b"x,y\n1,2\n"


def test_an_error_midway_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "pred.csv"
    with writer(path) as table:
        table.write(BLOCK)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), writer(path) as table:
        table.write(BLOCK.assign(x=[9.0, 9.0]))
        raise RuntimeError("a bad row in block 2")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pred.csv"]


def test_never_through_a_link_into_a_folder_or_over_the_source(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.csv"
    target.write_text("precious\n")
    link = tmp_path / "pred.csv"
    os.symlink(target, link)
    with pytest.raises(DataError, match=r"pred.csv is a symbolic link; radonspec does not write"
                       " through links: give the path of a file instead$"):  # fmt: skip
        with writer(link, force=True):
            pass
    assert target.read_text() == "precious\n"
    folder = tmp_path / "out.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a folder"), writer(folder):
        pass
    source = tmp_path / "new.csv"
    source.write_text("x\n1\n")
    with pytest.raises(DataError, match="is the new data itself"):
        with writer(source, force=True, source=source):
            pass
    with pytest.raises(DataError, match=r"the output must end in \.csv or \.parquet$"):
        with writer(tmp_path / "pred.txt"):
            pass
    with pytest.raises(DataError, match="does not exist; create it first$"):
        with writer(tmp_path / "no" / "pred.csv"):
            pass
    with pytest.raises(DataError, match=r"new\.csv is a file, not a folder; give another path$"):
        with writer(source / "pred.csv"):
            pass
