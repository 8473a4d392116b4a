"""The record one fit produces, whether sampled now or loaded from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import xarray as xr

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Fit:
    """One model's fit.

    ``tree`` holds the groups ``posterior``, ``log_likelihood``,
    ``posterior_predictive``, ``observed_data`` and ``sample_stats`` (``None`` when
    the fit failed). ``seconds`` maps phases (build, compile, sample,
    log_likelihood, total) to wall seconds. ``meta`` is what the store keeps in
    ``meta.json`` (resolved spec, data fingerprint, versions).
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
