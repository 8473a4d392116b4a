"""The unit of work of every executor: one fit to run (picklable, so it can travel)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from radonspec.study.schema import Study


@dataclass(frozen=True)
class FitJob:
    """One fit to run: the study, the model's name, its data, key, seed and label."""

    study: Study
    model: str
    frame: pd.DataFrame
    key: str
    seed: int
    label: str = ""
    posterior_only: bool = False  # no log-likelihood or predictive draws (k-fold refits)
    refit: bool = False  # all levels kept, compiled model reused (cross-validation refits)
    held_out: pd.DataFrame | None = None  # rows to score under the fit (k-fold test rows)
    shared: bool = False  # sampled through the compile kept for its structure (sweep cells)
    group: str = ""  # jobs expected to share one compiled structure (default: the model)

    @property
    def reuses_compile(self) -> bool:
        """Whether the job samples through its process's kept compile of its structure."""
        return self.refit or self.shared

    @property
    def compile_group(self) -> str:
        """What the job's compile is kept under by affinity (its model, or its group)."""
        return self.group or self.model

    @property
    def name(self) -> str:
        """What the fit is called (the label, else the model's name)."""
        return self.label or self.model
