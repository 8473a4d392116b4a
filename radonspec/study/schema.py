"""The spec format, version 1, as frozen pydantic models.

The loader (``spec.loader``) resolves ``extends`` and ``defaults`` before
validation, so every ``ModelSpec`` here is complete: nothing downstream merges
or defaults again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PrivateAttr,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from radonspec.errors import Location, counted
from radonspec.study.priors import PriorNode, parse_prior

SPEC_VERSION = 1
BACKENDS = ("nutpie", "pymc", "numpyro", "blackjax")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: Longest study or model name: names become file names (the report folder, figures), and
#: most file systems allow 255 bytes per name.
MAX_NAME_LENGTH = 100
#: Most groups the report draws one panel each for (report.highlight).
MAX_HIGHLIGHT = 24

Path = tuple[str | int, ...]


def _refuse_boolean(value: Any) -> Any:
    # YAML's true/false are ints to pydantic (True == 1): 'draws: true' became one draw
    if isinstance(value, bool):
        raise ValueError(f"a number is needed here, not {str(value).lower()}")
    return value


#: A number field: ``true`` and ``false`` are refused rather than read as 1 and 0.
Number = BeforeValidator(_refuse_boolean)

_PRIOR_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "description": "Compact form, e.g. Normal(0, sigma=HalfNormal(5))",
        },
        {
            "type": "object",
            "required": ["dist"],
            "properties": {"dist": {"type": "string"}},
            "additionalProperties": True,
            "description": "Mapping form, e.g. {dist: Normal, mu: 0, sigma: 1}",
        },
    ]
}

Prior = Annotated[
    PriorNode,
    BeforeValidator(parse_prior),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_PRIOR_JSON_SCHEMA),
]


class Frozen(BaseModel):
    """Base for all spec models: immutable, unknown keys forbidden."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", arbitrary_types_allowed=True, populate_by_name=True
    )


class SamplerSpec(Frozen):
    """How a model is sampled."""

    backend: Literal["nutpie", "pymc", "numpyro", "blackjax"] = Field(
        "nutpie", description="Sampler backend; numpyro and blackjax need the `jax` extra."
    )
    draws: Annotated[int, Number] = Field(
        1000, ge=1, le=1_000_000, description="Draws kept per chain."
    )
    tune: Annotated[int, Number] = Field(
        1000, ge=0, le=1_000_000, description="Tuning (warm-up) steps per chain."
    )
    chains: Annotated[int, Number] = Field(4, ge=1, le=64, description="Number of chains.")
    seed: Annotated[int, Number] = Field(
        20221,
        ge=0,
        lt=2**32,
        description="Study seed; each model's seed derives from it and the model's name.",
    )
    target_accept: Annotated[float, Number] = Field(
        0.8, gt=0, lt=1, description="Target acceptance rate of NUTS."
    )
    max_treedepth: Annotated[int, Number] = Field(
        10, ge=1, le=20, description="Maximum NUTS tree depth."
    )
    init: Literal["auto", "adapt_diag", "jitter+adapt_diag", "adapt_full"] = Field(
        "auto", description="Initialisation of the PyMC sampler (ignored by other backends)."
    )
    time_limit: Annotated[float, Number] | None = Field(
        None,
        gt=0,
        description="Seconds a fit may take; a fit still running then is stopped and recorded"
        " as failed. Fits with a limit run in a child process of their own.",
    )
    thin: Annotated[int, Number] = Field(
        1,
        ge=1,
        le=10_000,
        description="Keep every thin-th draw of each chain in everything stored (posterior,"
        " sampler statistics, log-likelihood, predictive draws), so they take 1/thin of the"
        " memory and disk; the log-likelihood and predictive draws are computed for the kept"
        " draws only. Must not exceed draws.",
    )
    predictive: bool = Field(
        True,
        description="Store posterior predictive draws; false saves memory and disk, and the"
        " report's posterior predictive checks (RMSD, LOO-PIT) are then skipped.",
    )

    @model_validator(mode="after")
    def _thin_keeps_a_draw(self) -> SamplerSpec:
        if self.thin > self.draws:
            raise ValueError(
                f"thin ({self.thin}) is larger than draws ({self.draws}): only the first draw"
                " of each chain would be kept; lower thin, or raise draws to thin times the"
                " draws per chain you want to keep"
            )
        return self


class DataSpec(Frozen):
    """Where the data comes from and how it is prepared."""

    dataset: str | None = Field(None, description="A bundled data set (`radonspec datasets`).")
    path: str | None = Field(None, description=".csv or .parquet file, relative to the spec.")
    categorical: tuple[str, ...] = Field((), description="Columns treated as categorical.")
    reference: dict[str, str | int] = Field(
        default_factory=dict,
        description="Reference level per categorical column (text columns are categorical):"
        " the baseline of its treatment coding, moved to the front of its levels.",
    )
    levels: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict,
        description="Order of a categorical column's levels (column -> every level, first to"
        " last); a listed column is categorical. Needed for an ordinal response (family"
        " cumulative or sratio) whose file does not carry the order (a CSV never does); for a"
        " binary response the last level is the event modelled.",
    )
    filter: dict[str, list[str | int | float | bool] | str | int | float | bool] = Field(
        default_factory=dict, description="Keep rows whose column equals a value or is in a list."
    )
    dropna: bool = Field(False, description="Drop rows with NaN in used columns.")

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of 'dataset' (a bundled data set) or 'path'")
        for column, levels in self.levels.items():
            texts = [str(level) for level in levels]
            if not texts:
                raise ValueError(f"levels of '{column}' is empty; list its levels in order")
            twice = sorted({text for text in texts if texts.count(text) > 1})
            if twice:
                raise ValueError(f"levels of '{column}' lists '{twice[0]}' twice")
        return self

    @field_validator("path")
    @classmethod
    def _path_suffix(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith((".csv", ".parquet", ".pq")):
            raise ValueError(f"'{value}' is neither .csv nor .parquet; convert it to one of these")
        return value


Formula = str | tuple[str, ...]


class ModelSpec(Frozen):
    """One fully resolved model variant."""

    formula: Formula = Field(
        description="Bambi formula, or a list [main, 'sigma ~ ...'] for distributional models."
    )
    family: str = Field("gaussian", description="Any Bambi family.")
    link: str | dict[str, str] | None = Field(
        None, description="Link name, or a mapping from family parameter to link."
    )
    priors: dict[str, Prior] = Field(
        default_factory=dict, description="Priors by Bambi term name, or common/group_specific."
    )
    noncentered: bool = Field(True, description="Non-centered group-specific effects.")
    correlated: Annotated[
        Literal[True] | tuple[str, ...],
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "boolean"},
                    {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                ]
            }
        ),
    ] = Field(
        (),
        description="Grouping factors whose group-specific effects are correlated: a list"
        " such as [county], or true for every factor of the main formula written with '|'."
        " The intercept and slopes of such a factor are drawn jointly from a multivariate"
        " normal with an LKJ prior on their correlation (eta 2; set it in priors with"
        " 'cor|county': LKJCorr(eta=4)). Default: none, Bambi's independent effects;"
        " (x || g) asks for independence explicitly, as in lme4.",
    )
    center_predictors: bool = Field(True, description="Center common predictors (Bambi).")
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    description: str | None = None

    @property
    def formulas(self) -> tuple[str, ...]:
        """The formula as a tuple, main formula first."""
        return (self.formula,) if isinstance(self.formula, str) else self.formula

    @field_validator("correlated", mode="before")
    @classmethod
    def _correlated_factors(cls, value: Any) -> Any:
        if value is False:
            return ()
        if isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    raise ValueError(
                        f"item {index} of correlated is {item!r}; list grouping factors by"
                        " name, e.g. [county], or write true for every factor"
                    )
            seen = [item for index, item in enumerate(value) if item in value[:index]]
            if seen:
                raise ValueError(f"'{seen[0]}' is listed twice in correlated; list it once")
            return tuple(value)
        return value

    @field_validator("description")
    @classmethod
    def _strip_description(cls, value: str | None) -> str | None:
        return None if value is None else " ".join(value.split())

    @field_validator("formula", mode="before")
    @classmethod
    def _formula_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("a formula list needs at least the main formula")
            return tuple(value)
        return value


class KFoldSpec(Frozen):
    """K-fold or leave-group-out cross-validation settings."""

    k: Annotated[int, Number] = Field(10, ge=2, le=1000, description="Number of folds.")
    group_by: str | None = Field(None, description="Leave whole groups out (a column).")


class CompareSpec(Frozen):
    """How variants are compared."""

    criterion: Literal["loo", "kfold"] = "loo"
    kfold: KFoldSpec = Field(default_factory=KFoldSpec)
    models: tuple[str, ...] | None = Field(
        None, description="Models to compare; default all. A sweep's cells are always added."
    )
    rmsd: bool = Field(True, description="Report posterior predictive RMSD per model.")
    reference: str | None = Field(
        None,
        description="The model every other model is described against in the report"
        " (its difference from it); default: the sweep's base, else the first model.",
    )


class ShrinkageSpec(Frozen):
    """Which two models the shrinkage plot joins."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", description="Model the arrows start from.")
    to: str = Field(description="Model the arrows point to.")


_EFFECT_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "description": "A predictor (a column of the data), e.g. floor"},
        {
            "type": "object",
            "title": "EffectSpec",
            "required": ["predictor"],
            "additionalProperties": False,
            "properties": {
                "predictor": {
                    "type": "string",
                    "description": "The predictor on the x axis (a column of the data).",
                },
                "by": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "default": None,
                    "description": "One line per value of this column (a categorical"
                    " column's levels, a numeric column's quartiles).",
                },
            },
            "description": "{predictor: floor, by: county}",
        },
    ]
}


class EffectSpec(Frozen):
    """One conditional-effect plot: a predictor, and optionally one line per value of ``by``."""

    predictor: str = Field(description="The predictor on the x axis (a column of the data).")
    by: str | None = Field(
        None,
        description="One line per value of this column (a categorical column's levels, a"
        " numeric column's quartiles).",
    )

    @model_validator(mode="after")
    def _by_differs(self) -> EffectSpec:
        if self.by is not None and self.by == self.predictor:
            raise ValueError(
                f"'by' names the predictor '{self.predictor}' itself; give another column,"
                " or leave 'by' out"
            )
        return self


def _effect_item(value: Any) -> Any:
    """A bare column name is short for ``{predictor: name}``."""
    return {"predictor": value} if isinstance(value, str) else value


Effect = Annotated[EffectSpec, BeforeValidator(_effect_item), WithJsonSchema(_EFFECT_JSON_SCHEMA)]


class ReportSpec(Frozen):
    """What the report shows."""

    title: str | None = None
    formats: tuple[Literal["html", "markdown", "json"], ...] = ("html", "markdown", "json")
    group: str | None = Field(None, description="Grouping factor for group-level sections.")
    shrinkage: ShrinkageSpec | None = None
    highlight: tuple[str | int, ...] = Field(
        (),
        max_length=MAX_HIGHLIGHT,
        description=f"Levels of report.group shown in a figure of their own (at most"
        f" {MAX_HIGHLIGHT}).",
    )
    predictor: str | None = Field(None, description="x axis of per-group fitted lines.")
    frequentist: bool = Field(False, description="Fit the same formula by REML (statsmodels).")
    prior_predictive: bool = Field(
        False,
        description="Add prior predictive checks: each model's prior predictive distribution"
        " against the observed data, as a table and figures (draws from every model's priors,"
        " so the report takes longer). `radonspec run --prior-only` writes this section alone.",
    )
    effects: tuple[Effect, ...] = Field(
        (),
        description="Conditional-effect plots, per model on the response scale: each item a"
        " predictor (`floor`) or a predictor with one line per value of another column"
        " (`{predictor: floor, by: county}`). Other predictors are held at their mean (numeric)"
        " or most frequent level (categorical), and group-specific effects at zero unless `by`"
        " is their grouping factor.",
    )
    prior_sensitivity: bool = Field(
        False,
        description="Power-scaling prior sensitivity (Kallioinen et al. 2023) per model and"
        " parameter: which posteriors depend on the prior or conflict with the data. Needs each"
        " model's log prior, computed from its draws (a few seconds per model).",
    )


#: Axes a sweep may vary, in the order cell names list them.
SWEEP_AXES = ("formula", "terms", "family", "link", "prior_scale", "backend")
#: A label of a sweep value: the part of a cell's name that value contributes.
SWEEP_LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_SWEEP_CELLS = 500

Backend = Literal["nutpie", "pymc", "numpyro", "blackjax"]
PositiveScale = Annotated[float, Number, Field(gt=0, allow_inf_nan=False)]


def _list_or_dict(value: Any) -> str:
    return "dict" if isinstance(value, dict) else "list"


def _axis[T](kind: type[T] | Any) -> Any:
    """A sweep axis: a list of values, or a mapping from label to value (never both tried).

    The callable discriminator picks one branch, so a bad value gets one error message
    instead of one per branch of the union.
    """
    return Annotated[
        Annotated[list[kind], Field(min_length=1, max_length=MAX_SWEEP_CELLS), Tag("list")]  # type: ignore[valid-type]
        | Annotated[dict[str, kind], Field(min_length=1, max_length=MAX_SWEEP_CELLS), Tag("dict")],  # type: ignore[valid-type]
        Discriminator(_list_or_dict),
    ]


class SweepAxes(Frozen):
    """The values a sweep runs over, per axis.

    Each axis is a list of values (labels are derived from them) or a mapping from
    label to value (labels are yours). A value equal to the base model's own is
    *neutral*: it adds nothing to a cell's name.
    """

    formula: _axis(Formula) | None = Field(  # type: ignore[valid-type]
        None,
        description="Whole formulas replacing the base's (a list [main, 'sigma ~ ...'] for a"
        " distributional model).",
    )
    terms: _axis(str) | None = Field(  # type: ignore[valid-type]
        None,
        description="Text appended to the right side of the base's main formula, e.g."
        " '+ log_uranium', '+ (1|county)', '- floor'; '' keeps the formula as it is.",
    )
    family: _axis(str) | None = Field(  # type: ignore[valid-type]
        None, description="Bambi families."
    )
    link: _axis(str) | None = Field(  # type: ignore[valid-type]
        None, description="Links of the family's main parameter."
    )
    prior_scale: _axis(PositiveScale) | None = Field(  # type: ignore[valid-type]
        None,
        description="Factors applied to every explicit prior of a cell, nested priors"
        " included: scale parameters (sigma, beta, b, s) are multiplied by the factor,"
        " rates divided by it, precisions (tau, lam) divided by its square; 1 is the base.",
    )
    backend: _axis(Backend) | None = Field(  # type: ignore[valid-type]
        None, description="Sampler backends."
    )

    @model_validator(mode="after")
    def _some_axis(self) -> SweepAxes:
        if not self.axes():
            raise ValueError(
                f"a sweep needs at least one axis under 'over': {', '.join(SWEEP_AXES)}"
            )
        return self

    def axes(self) -> dict[str, list[tuple[str | None, Any]]]:
        """Used axes in ``SWEEP_AXES`` order, each a list of (label or None, value)."""
        found: dict[str, list[tuple[str | None, Any]]] = {}
        for axis in SWEEP_AXES:
            values = getattr(self, axis)
            if values is None:
                continue
            if isinstance(values, dict):
                found[axis] = list(values.items())
            else:
                found[axis] = [(None, v) for v in values]
        return found


class SweepSpec(Frozen):
    """A grid or zip of variations of one model; each cell becomes a model of the study."""

    base: str = Field(description="The model of this study every cell varies.")
    mode: Literal["grid", "zip"] = Field(
        "grid",
        description="grid: every combination of the axes' values; zip: the i-th value of"
        " every axis together (all axes the same length).",
    )
    over: SweepAxes = Field(description="The axes and their values.")
    priors: dict[str, Prior] = Field(
        default_factory=dict,
        description="Priors for terms the sweep adds (or replacing the base's); each cell"
        " uses those naming one of its terms.",
    )


class Study(Frozen):
    """A validated study: one data set, several model variants."""

    spec_version: Annotated[Literal[1], Number] = Field(
        description="Version of the spec format; only 1 exists."
    )
    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description=f"Study name: [a-z0-9][a-z0-9_-]*, at most {MAX_NAME_LENGTH} characters",
    )
    description: str | None = None
    data: DataSpec
    models: dict[str, ModelSpec] = Field(min_length=1)
    compare: CompareSpec = Field(default_factory=CompareSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    sweep: SweepSpec | None = Field(
        None,
        description="Variations of one model, each cell a model named"
        " '<base>.<label>.<label>' (docs/EXPERIMENTS.md).",
    )

    _source: str = PrivateAttr(default="<memory>")
    _positions: dict[Path, Location] = PrivateAttr(default_factory=dict)
    _key_positions: dict[Path, Location] = PrivateAttr(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Study({self.name!r}: {counted(len(self.models), 'model')}: {', '.join(self.models)})"
        )

    def __str__(self) -> str:  # pydantic's would list every field of every model
        return self.__repr__()

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td><code>{html.escape('; '.join(m.formulas))}"
            f"</code></td><td>{html.escape(m.family)}</td></tr>"
            for name, m in self.models.items()
        )
        head = f"<p><b>{html.escape(self.name)}</b> {html.escape(self.description or '')}</p>"
        return f"{head}<table><tr><th>model</th><th>formula</th><th>family</th></tr>{rows}</table>"

    @property
    def source(self) -> str:
        """Path of the spec file the study came from."""
        return self._source

    def locate(self, *path: str | int) -> Location | None:
        """Location in the spec files of the value at ``path`` (or its nearest parent)."""
        for end in range(len(path), -1, -1):
            found = self._positions.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def locate_key(self, *path: str | int) -> Location | None:
        """Location of the key at ``path`` (falls back to its value's location)."""
        return self._key_positions.get(tuple(path)) or self.locate(*path)

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        import re

        for name in value:
            if not re.match(MODEL_NAME_PATTERN, name):
                raise ValueError(
                    f"model name '{name}' must match {MODEL_NAME_PATTERN}"
                    " (letters, digits, '_', '-', '.')"
                )
            if len(name) > MAX_NAME_LENGTH:
                raise ValueError(
                    f"model name '{name[:20]}...' has {len(name)} characters, more than the"
                    f" {MAX_NAME_LENGTH} allowed (it names files of the report); shorten it"
                )
        return value
