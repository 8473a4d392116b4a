"""New data for predictions: read in blocks, checked against what the fit saw, errors located."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radonspec.data.newdata import Needs, check_block, check_source, read_blocks
from radonspec.errors import DataError

NEEDS = Needs(
    "unpooled",
    numeric=("floor",),
    categorical={"county": {"AITKIN": "AITKIN", "ANOKA": "ANOKA"}},
    groups={"town": {"1": 1, "2": 2}},
)


def frame(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "floor": ["0", "1", "0"],
        "county": ["AITKIN", "ANOKA", "AITKIN"],
        "town": ["1", "2", "7"],
        "note": ["a", "b", "c"],
    }
    return pd.DataFrame(base | columns)


def test_a_valid_block_is_typed_as_the_fit_and_new_groups_are_flagged() -> None:
    block = check_block(frame(), 10, NEEDS, "new.csv")
    assert block.typed["floor"].tolist() == [0.0, 1.0, 0.0]
    assert list(block.typed["county"].cat.categories) == ["AITKIN", "ANOKA"]
    # levels as the fit's data holds them (integers here), new ones after them
    assert list(block.typed["town"].cat.categories) == [1, 2, "7"]
    assert block.new_group.tolist() == [False, False, True]
    assert block.new_levels == {"town": ["7"]}
    assert block.own["note"].tolist() == ["a", "b", "c"]  # the new data's own columns untouched


def test_a_grouping_factor_of_numbers_compares_and_types_its_ids_as_numbers() -> None:
    """sleepstudy's Subject read as integers: 308.0 is subject 308, 999 a new subject."""
    needs = Needs("ri", numeric=("Days",), groups={"Subject": {"308": 308, "309": 309}},
                  numeric_groups=("Subject",))  # fmt: skip
    block = check_block(
        pd.DataFrame({"Days": [0, 1, 2], "Subject": [308, 309.0, 999]}), 0, needs, "new.csv"
    )
    assert block.typed["Subject"].tolist() == [308, 309, 999]
    assert block.typed["Subject"].dtype == np.int64  # as the fit's data held them
    assert block.new_group.tolist() == [False, False, True]
    assert block.new_levels == {"Subject": ["999"]}
    with pytest.raises(DataError, match=r"column 'Subject', row 2: 'x' is not a number"):
        check_block(pd.DataFrame({"Days": [0, 1], "Subject": ["308", "x"]}), 0, needs, "new.csv")


def test_a_numeric_grouping_factor_is_a_group_of_the_model_s_needs() -> None:
    import warnings

    import bambi as bmb

    from radonspec.analysis.predict import needs_of

    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1], "s": [7, 7, 9, 9]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = bmb.Model("y ~ x + (1|s)", data)
    needs = needs_of("m", model, ("y ~ x + (1|s)",))
    assert needs.numeric == ("x",) and needs.numeric_groups == ("s",)
    assert dict(needs.groups["s"]) == {"7": 7, "9": 9}


@pytest.mark.parametrize(
    ("columns", "start", "message"),
    [
        (
            {"floor": ["0", "x", "1"]},
            0,
            "new.csv: column 'floor', row 2: 'x' is not a number; the model reads this column"
            " as numbers: fix the value",
        ),
        (
            {"floor": ["0", "1", None]},
            100,
            "new.csv: column 'floor', row 103: missing value; every column the model reads"
            " needs a value in every row: fill it in or drop the row",
        ),
        (
            {"floor": ["0", "inf", "1"]},
            0,
            "new.csv: column 'floor', row 2: infinite value (inf); replace it with a finite number",
        ),
        (
            {"county": ["AITKIN", "ANOKA", "AITKN"]},
            0,
            "new.csv: column 'county', row 3: level 'AITKN' is not in the data model 'unpooled'"
            " was fitted to, so it has no coefficient (did you mean 'AITKIN'?); known levels"
            " are 'AITKIN' or 'ANOKA': use one of them, or refit with data that has this level",
        ),
        (
            {"town": ["1", None, "2"]},
            0,
            "new.csv: column 'town', row 2: missing value; every column the model reads needs a"
            " value in every row: fill it in or drop the row",
        ),
    ],
)
def test_bad_values_are_one_located_line(
    columns: dict[str, list[object]], start: int, message: str
) -> None:
    with pytest.raises(DataError) as caught:
        check_block(frame(**columns), start, NEEDS, "new.csv")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_known_levels_are_listed_in_the_fit_s_order() -> None:
    needs = Needs("m", numeric=(), categorical={"tension": {"L": "L", "M": "M", "H": "H"}})
    with pytest.raises(DataError, match=r"known levels are 'L', 'M' or 'H': use one of them"):
        check_block(pd.DataFrame({"tension": ["L", "X"]}), 0, needs, "new.csv")


def test_a_missing_column_is_named_with_the_closest_one() -> None:
    block = frame().rename(columns={"floor": "flor"})
    with pytest.raises(DataError, match=r"^new.csv: no column 'floor' \(did you mean 'flor'\?\);"
                       r" model 'unpooled' reads 'county', 'floor', 'town', so the new data"
                       r" needs each of them$"):  # fmt: skip
        check_block(block, 0, NEEDS, "new.csv")


def test_whole_floats_name_integer_levels() -> None:
    block = check_block(frame(town=[1.0, 2.0, 2.0]), 0, NEEDS, "new.parquet")
    assert block.new_group.tolist() == [False, False, False]


def test_csv_blocks_keep_the_text_and_count_rows(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text('floor,county,town,note\n0,AITKIN,1,"a, b"\n1,ANOKA,2,007\n0,AITKIN,3,\n')
    blocks = list(read_blocks(path, 2))
    assert [start for start, _ in blocks] == [0, 2]
    assert blocks[0][1]["note"].tolist() == ["a, b", "007"]  # text as written, not 7
    assert pd.isna(blocks[1][1]["note"].iloc[0])


def test_parquet_blocks_keep_their_types(tmp_path: Path) -> None:
    path = tmp_path / "new.parquet"
    pd.DataFrame({"floor": np.arange(5), "county": ["AITKIN"] * 5}).to_parquet(path)
    blocks = list(read_blocks(path, 2))
    assert [len(b) for _, b in blocks] == [2, 2, 1]
    assert blocks[0][1]["floor"].dtype.kind == "i"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("new.txt", "x", r"^.*new.txt: new data must be a .csv or .parquet file; convert it$"),
        ("absent.csv", None, r"^.*absent.csv: no such file; check the path given to --data$"),
    ],
)
def test_sources_that_are_not_data(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        check_source(path)


def test_a_csv_that_is_not_csv_says_so(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("floor;county\n0;AITKIN\n")
    with pytest.raises(DataError, match=r"new.csv reads as one column.*delimiter"):
        list(read_blocks(path, 10))
    path.write_bytes(b"floor,county\n0,AIT\xffKIN\n")
    with pytest.raises(DataError, match=r"new.csv is not UTF-8 \(byte 0xff at line 2, column 6\)"):
        list(read_blocks(path, 10))
