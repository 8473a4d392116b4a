"""radonspec: declarative YAML model specs for Bayesian multilevel regression.

The public API (``radonspec.api``), imported on first use so that ``import radonspec``
stays cheap::

    import radonspec

    study = radonspec.load_study("specs/radon/seed.yaml")
    fits = radonspec.fit_study(study)
    comparison = radonspec.compare(study, fits)
    results = radonspec.analyse(study, fits, comparison)
    radonspec.write_report(study, results, "radonspec-out/radon-seed")

or all of it at once: ``radonspec.run("specs/radon/seed.yaml")``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "load_study": "radonspec.api",
    "validate": "radonspec.api",
    "fit_study": "radonspec.api",
    "compare": "radonspec.api",
    "analyse": "radonspec.api",
    "write_report": "radonspec.api",
    "run": "radonspec.api",
    "report_from_store": "radonspec.api",
    "prior_only": "radonspec.api",
    "RunResult": "radonspec.api",
    "Study": "radonspec.study.schema",
    "Fit": "radonspec.fit.record",
    "Fits": "radonspec.fit.record",
    "Comparison": "radonspec.analysis.loo",
    "Results": "radonspec.analysis.records",
    "ModelAnalysis": "radonspec.analysis.records",
    "RadonspecError": "radonspec.errors",
    "SpecError": "radonspec.errors",
    "SpecErrors": "radonspec.errors",
    "DataError": "radonspec.errors",
    "FitError": "radonspec.errors",
}

__all__ = [
    "Comparison",
    "DataError",
    "Fit",
    "FitError",
    "Fits",
    "ModelAnalysis",
    "RadonspecError",
    "Results",
    "RunResult",
    "SpecError",
    "SpecErrors",
    "Study",
    "__version__",
    "analyse",
    "compare",
    "fit_study",
    "load_study",
    "prior_only",
    "report_from_store",
    "run",
    "validate",
    "write_report",
]

if TYPE_CHECKING:
    from radonspec.analysis.loo import Comparison
    from radonspec.analysis.records import ModelAnalysis, Results
    from radonspec.api import (
        RunResult,
        analyse,
        compare,
        fit_study,
        load_study,
        prior_only,
        report_from_store,
        run,
        validate,
        write_report,
    )
    from radonspec.errors import DataError, FitError, RadonspecError, SpecError, SpecErrors
    from radonspec.fit.record import Fit, Fits
    from radonspec.study.schema import Study


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'radonspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
