"""Sweeps: a grid or a zip of variations of one model, each cell a named model of the study.

``expand_sweep`` runs inside ``load_study`` after models are resolved and validated:
it adds one ``ModelSpec`` per cell to ``study.models`` and points every position a
cell's errors may need (formula, family, link, priors, backend) at the sweep entry
that made it, so a cell is checked like a hand-written model and its errors are
located in the file. ``sweep_cells`` recomputes the same cells, for the report.

A cell's name is the base's name, then one label per axis whose value differs from
the base's, joined by dots: ``hierarchical.log_uranium.scale2``. The cell whose
values all equal the base's is the base model itself and is not added again.
"""

from __future__ import annotations

from radonspec.errors import Location, SpecErrors
from radonspec.study.cells import Path_, SweepCell, expand_cells
from radonspec.study.labels import terms_label
from radonspec.study.scaling import SCALE_POWERS, scale_prior, unscalable
from radonspec.study.schema import CompareSpec, Study

__all__ = [
    "SCALE_POWERS",
    "SweepCell",
    "expand_sweep",
    "scale_prior",
    "in_sweep",
    "sweep_cells",
    "sweep_model_names",
    "terms_label",
    "unscalable",
]


def sweep_cells(study: Study) -> list[SweepCell]:
    """The cells of ``study``'s sweep in order (empty without a sweep).

    On a study from ``load_study`` the cells are already among ``study.models``;
    this recomputes their values and labels, e.g. for the report's sweep view.
    """
    if study.sweep is None:
        return []
    written = {name for name in study.models if not _is_cell_name(name, study.sweep.base)}
    cells, errors = expand_cells(study, existing=written)
    if errors:
        raise SpecErrors(errors)
    return cells


def _is_cell_name(name: str, base: str) -> bool:
    return name.startswith(base + ".")


def in_sweep(study: Study, name: str) -> bool:
    """Whether model ``name`` of ``study`` is its sweep's base or one of its cells."""
    return study.sweep is not None and (
        name == study.sweep.base or _is_cell_name(name, study.sweep.base)
    )


def expand_sweep(study: Study) -> Study:
    """Add the sweep's cells to ``study.models``; the study itself when it has no sweep.

    Cells are located at the sweep entries that made them, so the static checks that
    run next (``check_study``) report their errors there. An explicit
    ``compare.models`` list gains the base and every cell.

    Raises
    ------
    SpecErrors
        Every problem of the sweep (unknown base, zip lengths, duplicate values, cell
        formulas the allow-list refuses, name clashes), located.
    """
    sweep = study.sweep
    if sweep is None:
        return study
    cells, errors = expand_cells(study, existing=set(study.models))
    if errors:
        raise SpecErrors(errors)
    added = [cell for cell in cells if not cell.is_base]
    models = dict(study.models)
    positions = dict(study._positions)
    keys = dict(study._key_positions)
    for cell in added:
        models[cell.name] = cell.spec
        _locate_cell(study, cell, positions, keys)
    compare = study.compare
    if compare.models is not None:
        listed = list(compare.models)
        wanted = [sweep.base, *(cell.name for cell in added)]
        compare = CompareSpec.model_validate(
            {
                **compare.model_dump(by_alias=True),
                "models": tuple(dict.fromkeys([*listed, *wanted])),
            }
        )
    expanded = study.model_copy(update={"models": models, "compare": compare})
    expanded._source = study._source
    expanded._positions = positions
    expanded._key_positions = keys
    return expanded


def _locate_cell(
    study: Study, cell: SweepCell, positions: dict[Path_, Location], keys: dict[Path_, Location]
) -> None:
    """Give a cell the base's positions, then the sweep entries' for what the sweep set."""
    assert study.sweep is not None
    base: Path_ = ("models", cell.base)
    own: Path_ = ("models", cell.name)
    for table, source in ((positions, study._positions), (keys, study._key_positions)):
        for where, found in list(source.items()):
            if where[: len(base)] == base:
                table[own + where[len(base) :]] = found
    for axis in cell.changed:
        location = study.locate(*cell.paths[axis])
        if location is not None:
            positions[own + _FIELD_OF_AXIS[axis]] = location
    for key in study.sweep.priors:
        if key in cell.spec.priors:
            for table, source in ((positions, study._positions), (keys, study._key_positions)):
                written = source.get(("sweep", "priors", key))
                if written is not None:
                    table[(*own, "priors", key)] = written
    made_by = cell.paths[cell.changed[0]] if cell.changed else ("sweep",)
    positions[own] = study.locate(*made_by) or Location(study.source, 1, 1)
    keys[own] = positions[own]


#: The model field an axis's value ends up in, where errors about it are looked up.
_FIELD_OF_AXIS: dict[str, Path_] = {
    "formula": ("formula",),
    "terms": ("formula",),
    "family": ("family",),
    "link": ("link",),
    "prior_scale": ("priors",),
    "backend": ("sampler", "backend"),
}


def sweep_model_names(study: Study) -> list[str]:
    """The base and every cell of the sweep, in order (empty without a sweep)."""
    if study.sweep is None:
        return []
    cells = sweep_cells(study)
    names = [study.sweep.base] + [cell.name for cell in cells if not cell.is_base]
    return list(dict.fromkeys(names))
