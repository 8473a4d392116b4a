"""The record one fit produces, whether sampled now or loaded from the store."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from radonspec.errors import counted

if TYPE_CHECKING:  # a record of a stored fit needs neither (xarray takes 0.6 s to import)
    import pandas as pd
    import xarray as xr

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Fit:
    """One model's fit.

    ``tree`` holds the groups ``posterior``, ``log_likelihood``,
    ``posterior_predictive``, ``observed_data`` and ``sample_stats`` (``None`` when
    the fit failed). ``seconds`` maps phases (build, compile, sample,
    log_likelihood, total; for a job's fit also model, the Bambi model's construction,
    and held_out, scoring a refit's held-out rows) to wall seconds. ``meta`` is what the
    store keeps in ``meta.json`` (resolved spec, data fingerprint, versions).
    """

    model: str
    key: str
    status: Status
    tree: xr.DataTree | None
    seconds: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cached: bool = False
    path: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the fit has draws to use."""
        return self.status == "ok" and self.tree is not None

    def __repr__(self) -> str:
        what = self.status if self.error is None else f"{self.status}: {self.error}"
        size = ""
        if self.tree is not None and "posterior" in self.tree.children:
            sizes = self.tree["posterior"].sizes
            size = f", {sizes.get('chain', 0)} chains x {sizes.get('draw', 0)} draws"
        stored = ", from the store" if self.cached else ""
        return f"Fit({self.model!r}, {what}{size}{stored}, key {self.key[:12]})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.summary().items()
        )
        return f"<table><caption>Fit {html.escape(self.model)}</caption>{rows}</table>"

    def summary(self) -> dict[str, Any]:
        """The fit in a few fields: status, key, timings, diagnostics as stored."""
        diagnostics = self.meta.get("diagnostics") or {}
        return {
            "status": self.status,
            "error": self.error,
            "key": self.key[:12],
            "cached": self.cached,
            "seconds": round(float(self.seconds.get("total", 0.0)), 1),
            "r_hat_max": diagnostics.get("r_hat_max"),
            "ess_bulk_min": diagnostics.get("ess_bulk_min"),
            "divergences": diagnostics.get("divergences"),
        }


class Fits(dict[str, Fit]):
    """A study's fits by model name, in the study's order, that display as a table."""

    def __repr__(self) -> str:
        lines = [f"Fits of {counted(len(self), 'model')}:"] + [
            f"  {fit!r}" for fit in self.values()
        ]
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per model: status, key, timings and stored diagnostics."""
        import pandas as pd

        return pd.DataFrame({name: fit.summary() for name, fit in self.items()}).T

    def _repr_html_(self) -> str:
        return str(self.to_frame().to_html())


#: A fit's progress, as callbacks receive it: (model, event, fit) -> None, where events are
#: ``cached``, ``started``, ``done`` and ``failed``.
Event = Callable[[str, str, Fit | None], None]
