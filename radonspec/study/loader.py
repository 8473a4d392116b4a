"""YAML study files to a validated, frozen ``Study``.

Resolution order: file ``extends`` (deep merge, this file wins), then per model
``defaults`` and model ``extends``, then pydantic validation, then the ``sweep``'s
cells become models (``experiment.sweep``), then the static checks of
``spec.checks``. Every error is a ``SpecError`` located in the file
where the offending key or value was written, even when it was inherited.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from radonspec.errors import Location, SpecError, SpecErrors, did_you_mean, one_of
from radonspec.study.checks import check_study
from radonspec.study.schema import ModelSpec, Study
from radonspec.study.sweep import expand_sweep
from radonspec.study.yamlread import Document, Path_, is_spec_file, parse_yaml, read_yaml

MAX_EXTENDS_DEPTH = 16


def load_study(path: str | os.PathLike[str]) -> Study:
    """Load, resolve and validate a study file.

    Raises
    ------
    SpecError
        With file, line and column; ``SpecErrors`` when several problems are found.
    """
    return check_spec(read_study(path))


def read_study(path: str | os.PathLike[str]) -> Study:
    """Load and resolve a study file without the static checks of its models.

    What ``load_study`` does up to its last step: ``check_spec`` makes the checks (a
    study read again exactly as one that passed them needs none; ``radonspec.api.run``
    reads a study so when its plan is kept).
    """
    file = Path(path)
    with _one_line_errors():
        return _resolve(_load_with_extends(file, []), file)


def check_spec(study: Study) -> Study:
    """The static checks of a resolved study's models and comparison; the study when valid.

    Raises
    ------
    SpecErrors
        Every problem, located.
    """
    with _one_line_errors():
        errors = check_study(study) + _check_reference(study)
        if errors:
            raise SpecErrors(errors)
    return study


def load_study_text(text: str, source: str | os.PathLike[str]) -> Study:
    """Load a study from YAML ``text`` as if it had been read from the file ``source``.

    ``source`` need not exist: it names the text in error locations, and relative
    data paths and ``extends`` resolve against its folder.

    Raises
    ------
    SpecError
        Located in ``source``; ``SpecErrors`` when several problems are found.
    """
    file = Path(source)
    with _one_line_errors():
        doc = parse_yaml(text, _display(file))
        return _finish(_extend(doc, file, []), file)


def _finish(doc: Document, file: Path) -> Study:
    return check_spec(_resolve(doc, file))


def _resolve(doc: Document, file: Path) -> Study:
    resolved = _resolve_models(doc)
    try:
        study = Study.model_validate(resolved.data)
    except ValidationError as exc:
        raise SpecErrors(_reword(exc, resolved)) from None
    study._source = str(file)
    study._positions = dict(resolved.values)
    study._key_positions = dict(resolved.keys)
    # sweep cells become models here, so the checks below treat them as hand-written ones
    return expand_sweep(study)


def _check_reference(study: Study) -> list[SpecError]:
    reference = study.compare.reference
    if reference is None or reference in study.models:
        return []
    names = list(study.models)
    return [
        SpecError(
            f"compare.reference '{reference}' is not a model of this study"
            f"{did_you_mean(reference, names)}; models are {one_of(names)}",
            study.locate("compare", "reference"),
        )
    ]


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _load_with_extends(file: Path, stack: list[Path]) -> Document:
    return _extend(read_yaml(file, _display(file)), file, stack)


def _extend(doc: Document, file: Path, stack: list[Path]) -> Document:
    parent_ref = doc.data.pop("extends", None)
    if parent_ref is None:
        return doc
    where = doc.values[("extends",)]
    if not isinstance(parent_ref, str):
        raise SpecError("'extends' takes the path of another spec file (a string)", where)
    if not parent_ref.lower().endswith((".yaml", ".yml")):
        raise SpecError(
            f"'extends' names {parent_ref}, which is not a .yaml or .yml file; a study extends"
            " another spec file",
            where,
        )
    parent = (file.parent / parent_ref).resolve()
    chain = [*stack, file.resolve()]
    if parent in chain:
        cycle = " -> ".join(_display(p) for p in [*chain[chain.index(parent) :], parent])
        raise SpecError(f"'extends' cycle: {cycle}; remove one of the 'extends'", where)
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise SpecError(f"'extends' chain deeper than {MAX_EXTENDS_DEPTH} files", where)
    if not parent.exists():
        raise SpecError(
            f"'extends' names {parent_ref}, which does not exist (looked for {_display(parent)});"
            " paths are relative to the file that extends",
            where,
        )
    if not is_spec_file(parent):
        # whatever file a spec names, its lines must not come back in error messages
        raise SpecError(
            f"'extends' names {parent_ref}, which is not a radonspec spec (a regular file with"
            " 'spec_version:' at its top level); a spec may extend only other spec files",
            where,
        )
    base = _load_with_extends(parent, chain)
    return _merge_docs(base, doc)


def _merge_docs(base: Document, over: Document) -> Document:
    merged = Document(over.file, None, dict(base.values), dict(base.keys))
    merged.data = _merge(base.data, over.data, (), merged, over)
    return merged


def _merge(base: Any, over: Any, path: Path_, out: Document, src: Document) -> Any:
    """Deep-merge ``over`` onto ``base``, copying ``src``'s positions into ``out``."""
    # a prior (the value under a 'priors' key) is one value: a child's prior replaces it whole
    is_prior = len(path) >= 2 and path[-2] == "priors"
    if isinstance(base, dict) and isinstance(over, dict) and not is_prior:
        result = dict(base)
        for key, value in over.items():
            sub = (*path, key)
            if sub in src.keys:
                out.keys[sub] = src.keys[sub]
            result[key] = _merge(base[key], value, sub, out, src) if key in base else value
            if key not in base:
                _drop_below(out, sub)
                _copy_positions(src, sub, out, sub)
        return result
    _drop_below(out, path)
    _copy_positions(src, path, out, path)
    return over


def _drop_below(doc: Document, prefix: Path_) -> None:
    for table in (doc.values, doc.keys):
        for key in [k for k in table if k[: len(prefix)] == prefix and len(k) > len(prefix)]:
            del table[key]


def _copy_positions(src: Document, src_prefix: Path_, dst: Document, dst_prefix: Path_) -> None:
    n = len(src_prefix)
    for table, target in ((src.values, dst.values), (src.keys, dst.keys)):
        for key, loc in table.items():
            if key[:n] == src_prefix:
                target[dst_prefix + key[n:]] = loc


def _resolve_models(doc: Document) -> Document:
    """Fold ``defaults`` and model-level ``extends`` into every model."""
    data = doc.data
    defaults = data.pop("defaults", None) or {}
    models = data.get("models")
    out = Document(doc.file, data, dict(doc.values), dict(doc.keys))
    if not isinstance(defaults, dict):
        raise SpecError("'defaults' must be a mapping of model fields", doc.values[("defaults",)])
    if not isinstance(models, dict):
        return out  # pydantic reports the missing or malformed 'models'
    _drop_below(out, ("models",))
    resolved: dict[str, Any] = {}
    done: dict[str, Document] = {}
    # positions split by model once: slicing the whole table per model is quadratic, and a
    # 1 MB spec can hold 20,000 models
    values_of = _split(doc.values, "models")
    keys_of = _split(doc.keys, "models")
    default_values = _subtable(doc.values, ("defaults",))
    default_keys = _subtable(doc.keys, ("defaults",))

    def resolve(name: str, stack: list[str]) -> Document:
        if name in done:
            return done[name]
        own = models[name]
        own_path: Path_ = ("models", name)
        if not isinstance(own, dict):
            single = Document(doc.file, own, {(): doc.values[own_path]}, {})
            done[name] = single
            return single
        own = dict(own)
        parent = own.pop("extends", None)
        if parent is not None:
            where = doc.values[(*own_path, "extends")]
            if not isinstance(parent, str):
                raise SpecError(
                    f"model '{name}': 'extends' takes the name of another model of this study"
                    f" (a string), got {parent!r}; models are {one_of(models)}",
                    where,
                )
            if parent not in models:
                raise SpecError(
                    f"model '{name}' extends '{parent}', which is not a model of this study"
                    f"{did_you_mean(parent, models)}; models are {one_of(models)}",
                    where,
                )
            if parent in stack:
                cycle = " -> ".join([*stack[stack.index(parent) :], parent])
                raise SpecError(f"model 'extends' cycle: {cycle}", where)
            base = resolve(parent, [*stack, parent])
        else:
            base = Document(doc.file, dict(defaults), dict(default_values), dict(default_keys))
        src = Document(doc.file, own, values_of.get(name, {}), keys_of.get(name, {}))
        merged = Document(doc.file, None, dict(base.values), dict(base.keys))
        merged.data = _merge(base.data, own, (), merged, src)
        merged.values[()] = doc.values[own_path]
        done[name] = merged
        return merged

    for name in models:
        model_doc = resolve(name, [name])
        resolved[name] = model_doc.data
        for table, target in ((model_doc.values, out.values), (model_doc.keys, out.keys)):
            for key, loc in table.items():
                target[("models", name, *key)] = loc
        out.keys[("models", name)] = doc.keys[("models", name)]
    out.data = {**data, "models": resolved}
    return out


def _split(table: dict[Path_, Location], head: str) -> dict[Any, dict[Path_, Location]]:
    """``_subtable(table, (head, name))`` for every ``name`` at once."""
    out: dict[Any, dict[Path_, Location]] = {}
    for key, loc in table.items():
        if len(key) >= 2 and key[0] == head:
            out.setdefault(key[1], {})[key[2:]] = loc
    return out


def _subtable(table: dict[Path_, Location], prefix: Path_) -> dict[Path_, Location]:
    n = len(prefix)
    return {key[n:]: loc for key, loc in table.items() if key[:n] == prefix}


def _reword(exc: ValidationError, doc: Document) -> list[SpecError]:
    """Turn pydantic's errors into located, readable ``SpecError``s (one per place)."""
    errors: list[SpecError] = []
    seen: set[tuple[Location | None, str]] = set()
    raw = exc.errors()
    # a misspelt required key shows up twice (unknown 'modles', missing 'models'): say it once
    misspelt = {
        (*_clean_loc(e["loc"], doc)[:-1], _closest_field(_clean_loc(e["loc"], doc))): True
        for e in raw
        if e["type"] == "extra_forbidden"
    }
    for err in raw:
        loc = _clean_loc(err["loc"], doc)
        if err["type"] == "missing" and loc in misspelt:
            continue
        message, location = _message(err, loc, doc)
        if (location, message) in seen:
            continue
        seen.add((location, message))
        errors.append(SpecError(message, location))
    errors.sort(key=lambda e: (e.line or 0, e.column or 0))
    return errors


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    r"""Escape line breaks and control characters that keys or values bring into messages.

    An error is one line (``FILE:LINE:COL: message``); a key such as ``"\\n"`` echoed
    verbatim would break it in two.
    """
    try:
        yield
    except SpecError as exc:
        for error in [exc, *(exc.errors if isinstance(exc, SpecErrors) else [])]:
            if not error.message.isprintable():
                error.message = "".join(
                    c if c.isprintable() else repr(c)[1:-1] for c in error.message
                )
        raise


def _clean_loc(loc: tuple[Any, ...], doc: Document) -> Path_:
    # pydantic inserts validator tags ('function-before[...]', 'str', 'tuple[...]') into loc;
    # a key written in the file is kept whatever its name ('str', 'a[0]')
    out: list[str | int] = []
    for part in loc:
        tag = isinstance(part, str) and ("[" in part or part in _TYPE_TAGS)
        if tag and (*out, part) not in doc.values:
            continue
        out.append(part)
    return tuple(out)


_TYPE_TAGS = {
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "tuple",
    "none",
    "literal",
    "is-instance",
}


def _dotted(loc: Path_) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the spec"


def _nearest(table: dict[Path_, Location], loc: Path_) -> Location | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in table:
            return table[loc[:end]]
    return None


def _message(err: Any, loc: Path_, doc: Document) -> tuple[str, Location | None]:
    kind = err["type"]
    where = _dotted(loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        hint = did_you_mean(key, allowed)
        text = f"unknown key '{key}' in {_dotted(loc[:-1])}{hint}"
        if allowed:
            text += f"; allowed keys: {', '.join(allowed)}"
        return text, doc.keys.get(loc) or _nearest(doc.values, loc)
    if kind == "missing":
        parent = _dotted(loc[:-1])
        return (
            f"missing required key '{loc[-1]}' in {parent}; add it",
            _nearest(doc.values, loc[:-1]),
        )
    error = (err.get("ctx") or {}).get("error")
    inner = tuple(getattr(error, "path", ()) or ())
    if inner and (*loc, *inner) in doc.values:  # an error inside a mapping-form prior
        loc = (*loc, *inner)
        where = _dotted(loc)
    location = _nearest(doc.values, loc)
    offset = getattr(error, "offset", None)
    if offset and location is not None and loc in doc.values:
        location = Location(location.file, location.line, location.column + offset)
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if kind in {
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
        "dict_type",
        "list_type",
        "int_parsing",
        "float_parsing",
        "bool_parsing",
        "tuple_type",
        "model_type",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "literal_error",
        "string_pattern_mismatch",
        "string_too_long",
        "too_short",
        "too_long",
        "int_from_float",
    }:
        msg = f"{msg[0].lower()}{msg[1:]} (got {_show(err.get('input'))})"
    return f"{where}: {msg}", location


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _closest_field(loc: Path_) -> str:
    close = did_you_mean(str(loc[-1]), _allowed_keys(loc[:-1]))
    return close.split("'")[1] if close else ""


def _allowed_keys(loc: Path_) -> list[str]:
    """Keys allowed in the mapping at ``loc``, read off the pydantic models."""
    fields = _fields_at(Study, loc)
    return sorted(fields) if fields else []


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    current: Any = model
    parts: Iterator[str | int] = iter(loc)
    for part in parts:
        if current is Study and part == "models":
            next(parts, None)  # skip the model's name
            current = ModelSpec
            continue
        if isinstance(part, int):  # an item of a list: its model is the list's
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = _model_in(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        names = [f.alias or n for n, f in current.model_fields.items()]
        if current is ModelSpec:
            names.append("extends")
        if current is Study:
            names += ["extends", "defaults"]
        return names
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
