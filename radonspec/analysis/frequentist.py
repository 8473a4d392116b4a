"""The REML fit of a linear mixed model, as a reference for the Bayesian tables.

statsmodels' ``MixedLM`` fits the Gaussian model that a Bambi formula with one
grouping factor describes. Bambi's group-specific terms are independent (no
correlation between a group's intercept and slope), so the random intercept is
statsmodels' random effect and every other term of the group a separate
variance component, which keeps them uncorrelated too (a diagonal covariance).
For a model whose factor is in ``correlated:`` every term of the group is a random
effect with a full covariance matrix, as lme4's ``(x | g)``.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from radonspec.errors import CompileError, DataError, did_you_mean
from radonspec.study.correlated import PREFIX as CORRELATION_PREFIX
from radonspec.study.formula import describe


def mixedlm_table(formula: str, data: pd.DataFrame, *, correlated: bool = False) -> pd.DataFrame:
    """Fit ``formula`` by REML with statsmodels ``MixedLM``; fixed effects and SDs with SEs.

    Rows are named as Bambi names the parameters: fixed effects (``Intercept``,
    ``floor``, ``county[AITKIN]``), group SDs (``1|county_sigma``,
    ``floor|county_sigma``) and the residual SD ``sigma``; with ``correlated`` the
    group's terms get a full covariance matrix and its correlations are rows too,
    named as radonspec stores them (``cor|county[1, floor]``, SE not computed: NaN).
    Columns: ``estimate``, ``se`` and ``kind`` (``"fixed"``, ``"sd"`` or ``"cor"``).
    The formula may use lme4's ``(x || g)``, which means independent terms.

    SEs of the group SDs are statsmodels' SEs of the variances carried to the SD
    scale by the delta method (``se_var / (2 * sd)``). statsmodels profiles the
    residual variance out, so the SE of ``sigma`` is the large-sample
    ``sigma / sqrt(2 * (n - p))`` with ``p`` fixed effects. ``attrs`` holds
    ``converged`` and the statsmodels ``warnings``.

    Raises
    ------
    CompileError
        When the formula has no group-specific term, more than one grouping
        factor, or a term statsmodels cannot build.
    DataError
        When the formula names a column the data lacks.
    """
    import statsmodels.api as sm

    try:
        description = describe(formula)
    except Exception as exc:  # formulae raises several parse error types
        raise CompileError(f"cannot parse formula '{formula}': {exc}") from None
    if description.response is None:
        raise CompileError(f"formula '{formula}' has no response; write it as 'y ~ ...'")
    response = description.response.term.name
    factors = sorted({str(t.factor.name) for t in description.group_terms})
    if len(factors) != 1:
        found = f"{len(factors)} grouping factors ({', '.join(factors)})" if factors else "none"
        raise CompileError(
            f"formula '{formula}': the frequentist reference needs exactly one grouping"
            f" factor, found {found}; write the group-specific terms as (x | g) with one g"
        )
    factor = factors[0]
    for column in sorted(description.var_names):
        if column not in data.columns:
            raise DataError(
                f"formula '{formula}' uses '{column}', which is not a column of the data"
                f"{did_you_mean(column, data.columns)}"
            )
    fixed = _fixed_formula(response, description.common_terms)
    random_intercept = any(t.expr.name == "Intercept" for t in description.group_terms)
    slopes = [str(t.expr.name) for t in description.group_terms if t.expr.name != "Intercept"]
    if correlated:
        terms = ["1" if random_intercept else "0", *slopes]
        re_formula, vc_formula = " + ".join(terms), None
    else:
        re_formula = "1" if random_intercept else "0"
        vc_formula = {s: f"0 + {s}" for s in slopes} or None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = sm.MixedLM.from_formula(
                fixed, data, groups=data[factor], re_formula=re_formula, vc_formula=vc_formula
            )
            result = model.fit(reml=True)
        except Exception as exc:  # patsy and numpy errors alike mean the model can't be built
            reason = " ".join(str(exc).split())
            raise CompileError(f"statsmodels MixedLM cannot fit '{formula}': {reason}") from None
    if correlated:
        table = _correlated_table(result, factor, random_intercept, slopes)
    else:
        table = _table(result, factor, random_intercept, slopes)
    table.attrs["converged"] = bool(result.converged)
    table.attrs["warnings"] = [str(w.message) for w in caught]
    return table


def _fixed_formula(response: str, common_terms: list[Any]) -> str:
    names = [str(t.name) for t in common_terms]
    rhs = [n for n in names if n != "Intercept"]
    intercept = "1" if "Intercept" in names else "0"
    return f"{response} ~ {' + '.join([intercept, *rhs])}"


def _table(result: Any, factor: str, random_intercept: bool, slopes: list[str]) -> pd.DataFrame:
    k_fe = int(result.k_fe)
    fe_names = [_bambi_name(str(n)) for n in result.model.exog_names]
    estimates = np.asarray(result.fe_params, dtype=float)
    ses = np.asarray(result.bse_fe, dtype=float)
    # statsmodels' SEs of the variances (what its summary prints): sqrt(scale * cov)
    variance_se = np.sqrt(result.scale * np.diag(np.asarray(result.cov_params()))[k_fe:])
    variances = []
    names = []
    if random_intercept:
        variances.append(float(np.asarray(result.cov_re)[0, 0]))
        names.append(f"1|{factor}_sigma")
    variances += [float(v) for v in np.asarray(result.vcomp)]
    names += [f"{s}|{factor}_sigma" for s in slopes]
    sds = np.sqrt(np.maximum(variances, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_ses = variance_se[: len(sds)] / (2 * sds)
    sigma = float(np.sqrt(result.scale))
    sigma_se = sigma / np.sqrt(2 * (result.nobs - k_fe))
    return pd.DataFrame(
        {
            "estimate": [*estimates, *sds, sigma],
            "se": [*ses, *sd_ses, sigma_se],
            "kind": ["fixed"] * k_fe + ["sd"] * (len(sds) + 1),
        },
        index=pd.Index([*fe_names, *names, "sigma"], name="term"),
    )


def _correlated_table(
    result: Any, factor: str, random_intercept: bool, slopes: list[str]
) -> pd.DataFrame:
    """The rows of ``_table`` for a full random-effects covariance, plus its correlations."""
    k_fe = int(result.k_fe)
    exprs = ["1"] * random_intercept + slopes
    cov = np.asarray(result.cov_re, dtype=float)
    # statsmodels orders the covariance parameters as the lower triangle, row by row
    rows, cols = np.tril_indices(len(exprs))
    variance_se = np.sqrt(result.scale * np.diag(np.asarray(result.cov_params()))[k_fe:])
    diagonal = {
        int(r): variance_se[i] for i, (r, c) in enumerate(zip(rows, cols, strict=True)) if r == c
    }
    sds = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_ses = [diagonal[i] / (2 * sds[i]) for i in range(len(exprs))]
        scaled = cov / np.outer(sds, sds)
    upper = list(zip(*np.triu_indices(len(exprs), k=1), strict=True))
    fixed = _table(result, factor, False, [])  # fixed effects and sigma, no group SDs
    group = pd.DataFrame(
        {
            "estimate": [*sds, *(scaled[i, j] for i, j in upper)],
            "se": [*sd_ses, *[np.nan] * len(upper)],
            "kind": ["sd"] * len(exprs) + ["cor"] * len(upper),
        },
        index=pd.Index(
            [f"{e}|{factor}_sigma" for e in exprs]
            + [f"{CORRELATION_PREFIX}{factor}[{exprs[i]}, {exprs[j]}]" for i, j in upper],
            name="term",
        ),
    )
    return pd.concat([fixed.iloc[:k_fe], group, fixed.iloc[k_fe:]])


_LEVEL = re.compile(r"^(?P<var>[^\[]+)\[(?:T\.)?(?P<level>.*)\]$")


def _bambi_name(name: str) -> str:
    """Turn patsy's ``county[T.X]:floor`` into Bambi's label ``county:floor[X]``."""
    variables, levels = [], []
    for part in name.split(":"):
        match = _LEVEL.match(part)
        variables.append(match["var"] if match else part)
        if match:
            levels.append(match["level"])
    return ":".join(variables) + (f"[{', '.join(levels)}]" if levels else "")
