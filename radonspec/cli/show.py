"""``radonspec show``: the resolved spec of each model and its priors as Bambi will use them."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from radonspec.cli.console import plain
from radonspec.compile.model import compile_model, priors_table, study_base, used_columns
from radonspec.data.load import load_data
from radonspec.errors import SpecError, did_you_mean, one_of
from radonspec.study.checks import formula_infos
from radonspec.study.loader import load_study
from radonspec.study.schema import Study

#: Who chose a prior the spec did not give (``priors_table``'s source column).
_DEFAULTS = {"auto": "Bambi default", "radonspec": "radonspec default"}


def show_study(path: Path, models: list[str] | None, console: Console) -> None:
    """Print each selected model's resolved spec and its full priors table."""
    study = load_study(path)
    names = models or list(study.models)
    for name in names:
        if name not in study.models:
            raise SpecError(
                f"{path} has no model '{name}'{did_you_mean(name, study.models)};"
                f" models are {one_of(study.models)}"
            )
    columns = {c for n in names for c in used_columns(formula_infos(study.models[n]))}
    frame = load_data(study.data, study_base(study), sorted(columns))
    console.print(
        f"[bold]{plain(study.name)}[/bold] ({plain(path)}): data {plain(_source(study))},"
        f" {len(frame)} rows"
    )
    for name in names:
        spec = study.models[name]
        compiled = compile_model(study, name, frame)
        console.rule(f"model {plain(name)}")
        console.print(_yaml(spec.model_dump(mode="json", exclude_none=True)), markup=False)
        table = Table(title=f"priors of {plain(name)}", title_justify="left")
        table.add_column("term")
        table.add_column("prior")
        table.add_column("from")
        for row in priors_table(compiled.model, spec).itertuples():
            source = "spec" if row.source == "spec" else f"[dim]{_DEFAULTS[row.source]}[/dim]"
            table.add_row(plain(row.term), plain(row.prior), source)
        console.print(table)


def _source(study: Study) -> str:
    data = study.data
    return f"'{data.dataset}' (bundled)" if data.dataset else str(data.path)


def _yaml(value: object) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buffer = io.StringIO()
    yaml.dump(value, buffer)
    return buffer.getvalue().rstrip()
