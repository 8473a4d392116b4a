"""JSON Schema of the spec *file* format, for editors' YAML language servers.

The file format is the validated ``Study`` plus what the loader folds away:
``extends`` and ``defaults`` at the top, ``extends`` per model, and model
fields that may be left to ``defaults``. Enums (families, links, distributions,
bundled data sets) are filled from the installed Bambi and PyMC.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from radonspec.study.schema import Study

SCHEMA_ID = "https://radonspec.dev/schema/v1/radonspec.schema.json"


def study_json_schema(datasets: Collection[str] = ()) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a study file.

    ``datasets`` are the names ``data.dataset`` may take (the bundled data sets, which
    the data stage knows); without them any name is allowed.
    """
    schema = Study.model_json_schema(by_alias=True, mode="validation")
    defs = schema.setdefault("$defs", {})
    model = defs["ModelSpec"]
    loose = copy.deepcopy(model)
    loose.pop("required", None)
    loose["title"] = "Model"
    loose["properties"]["extends"] = {
        "type": "string",
        "description": "Name of another model of this study to inherit from.",
    }
    defs["ModelFile"] = loose
    defaults = copy.deepcopy(model)
    defaults.pop("required", None)
    defaults["title"] = "Defaults"
    defaults["description"] = "Model fields every model inherits unless it overrides them."
    defs["Defaults"] = defaults
    props = schema["properties"]
    props["models"]["additionalProperties"] = {"$ref": "#/$defs/ModelFile"}
    props["extends"] = {
        "type": "string",
        "description": "Another study file (relative path) this one deep-merges onto.",
    }
    props["defaults"] = {"$ref": "#/$defs/Defaults"}
    _enums(defs, datasets)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "radonspec study (spec_version 1)"
    # a file that extends another may leave the required keys to its parent
    required = schema.pop("required", [])
    schema["if"] = {"required": ["extends"]}
    schema["else"] = {"required": required}
    return schema


def _enums(defs: dict[str, Any], datasets: Collection[str]) -> None:
    from radonspec.study.priors import distribution_names
    from radonspec.study.registry import FAMILIES, LINKS

    families = sorted(FAMILIES)
    links = sorted(LINKS)
    for name in ("ModelFile", "Defaults", "ModelSpec"):
        props = defs[name]["properties"]
        props["family"] = {**_describe(props["family"]), "enum": families}
        props["link"] = {
            **_describe(props["link"]),
            "anyOf": [
                {"type": "string", "enum": links},
                {"type": "object", "additionalProperties": {"type": "string", "enum": links}},
                {"type": "null"},
            ],
        }
        props["priors"]["additionalProperties"] = _prior_schema(distribution_names())
    _sweep_enums(defs, families, links, distribution_names())
    if datasets:
        data = defs["DataSpec"]["properties"]
        data["dataset"] = {
            **_describe(data["dataset"]),
            "anyOf": [{"type": "string", "enum": sorted(datasets)}, {"type": "null"}],
        }


def _sweep_enums(
    defs: dict[str, Any], families: list[str], links: list[str], distributions: list[str]
) -> None:
    """Families, links and priors of a sweep get the same enums as a model's."""
    axes = defs["SweepAxes"]["properties"]
    for axis, names in (("family", families), ("link", links)):
        axes[axis] = {
            **_describe(axes[axis]),
            "anyOf": [
                {"type": "array", "minItems": 1, "items": {"type": "string", "enum": names}},
                {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": "string", "enum": names},
                },
                {"type": "null"},
            ],
        }
    defs["SweepSpec"]["properties"]["priors"]["additionalProperties"] = _prior_schema(distributions)


def _describe(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k in ("description", "title", "default")}


def _prior_schema(distributions: list[str]) -> dict[str, Any]:
    names = "|".join(distributions)
    return {
        "anyOf": [
            {
                "type": "string",
                "pattern": rf"^\s*({names})\s*\(",
                "description": "Compact form, e.g. Normal(0, sigma=HalfNormal(5))",
            },
            {
                "type": "object",
                "required": ["dist"],
                "properties": {"dist": {"type": "string", "enum": distributions}},
                "additionalProperties": {
                    "anyOf": [
                        {"type": "number"},
                        {"type": "string"},
                        {"type": "object"},
                        {"type": "array", "items": {"type": "number"}},
                    ]
                },
                "description": "Mapping form, e.g. {dist: Normal, mu: 0, sigma: 1}",
            },
        ]
    }
