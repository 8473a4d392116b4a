"""The frequentist reference of a model: statsmodels' fit of the same design, where it has one.

``frequentist_reference`` fits, from the very design matrices Bambi built (so every
column, level and reference is the model's own, whatever the column names):

- a Gaussian model with one grouping factor: REML with ``MixedLM``
  (``radonspec.analysis.frequentist.mixedlm_table``, from the formula);
- a Gaussian model with several grouping factors, crossed or nested (``(1|a) + (1|b)``,
  ``(1|a/b)``): REML with ``MixedLM`` and one variance component per group-specific
  term, over a single all-rows group (dense indicators: refused above ``MAX_VC_CELLS``);
- a model without group-specific terms: maximum likelihood with ``GLM`` (gaussian,
  bernoulli, binomial with trials, poisson, gamma and inverse gaussian, offsets as
  offsets), ``NegativeBinomial`` (negativebinomial: Bambi's ``alpha`` is statsmodels'
  ``1 / alpha``), ``OLS`` on the log scale (lognormal) and ``OrderedModel`` (cumulative
  logit or probit; thresholds as Bambi's ``threshold[k]``).

Anything else raises ``NoReference`` with one plain sentence saying why (statsmodels
has no maximum-likelihood fit of a non-Gaussian mixed model, for one).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

#: Largest rows x levels of the dense indicators of a variance-components fit.
MAX_VC_CELLS = 20_000_000
_GLM_LINKS = {"identity", "log", "logit", "probit", "cloglog", "inverse", "sqrt"}


class NoReference(ValueError):
    """The model has no statsmodels fit; the message is the sentence the report shows."""


def frequentist_reference(
    model: Any,
    family: str,
    formulas: list[str],
    data: pd.DataFrame,
    *,
    correlated: bool = False,
) -> pd.DataFrame:
    """Statsmodels' estimates and SEs of the model's parameters, named as Bambi names them.

    Returns a frame indexed by parameter label with ``estimate``, ``se`` and ``kind``
    (``"fixed"``, ``"sd"``, ``"threshold"`` or ``"auxiliary"``); ``attrs["method"]``
    is ``"REML"`` or ``"ML"``, ``attrs["warnings"]`` statsmodels' warnings. With
    ``correlated`` the one grouping factor's effects get a full covariance matrix.

    Raises
    ------
    NoReference
        With the sentence saying why there is none.
    """
    if len(formulas) > 1:
        raise NoReference(
            "statsmodels has no fit of a distributional model (a formula per parameter)"
        )
    parent = model.family.likelihood.parent
    component = model.parameters[parent]
    link = str(model.family.link[parent].name)
    groups = list(component.group_specific_terms)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if groups:
            if family != "gaussian" or link != "identity":
                raise NoReference(
                    f"statsmodels has no maximum-likelihood fit of a {family} model with"
                    " group-specific terms"
                )
            factors = {name.split("|", 1)[1] for name in groups}
            table = None
            if len(factors) == 1:
                from radonspec.analysis.frequentist import mixedlm_table
                from radonspec.errors import RadonspecError

                try:
                    table = mixedlm_table(formulas[0], data, correlated=correlated)
                except RadonspecError:  # a name patsy cannot read: the same fit from the design
                    table = None
            if table is None:
                if correlated:
                    raise NoReference(
                        "statsmodels' variance components cannot correlate a factor's effects"
                    )
                table = _variance_components(model, component)
            method = "REML"
        else:
            table = _pooled(model, component, family, link)
            method = "ML"
    table.attrs["method"] = method
    table.attrs["warnings"] = [str(w.message) for w in caught]
    return table


def _design(component: Any) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The common design without offsets, its labels, and the summed offset column."""
    common = component.design.common
    if not common:
        return np.zeros((0, 0)), [], np.zeros(0)
    matrix = np.asarray(common.design_matrix, dtype=float)
    labels: list[str] = []
    offset = np.zeros(matrix.shape[0])
    keep = np.ones(matrix.shape[1], dtype=bool)
    for name, term in common.terms.items():
        columns = np.arange(matrix.shape[1])[common.slices[name]]
        if name in component.offset_terms:
            offset += matrix[:, columns].sum(axis=1)
            keep[columns] = False
            continue
        labels += _bambi_labels(component, name, [str(label) for label in term.labels])
    return matrix[:, keep], labels, offset


def _bambi_labels(component: Any, name: str, design: list[str]) -> list[str]:
    """The parameter labels Bambi gives a term's columns (``wool:tension[B, M]``).

    formulae labels an interaction's columns ``wool[B]:tension[M]``; Bambi's posterior
    names them by the term and its coordinates, which is what the tables show.
    """
    term = component.common_terms.get(name)
    coords = list(next(iter(term.coords.values()), [])) if term is not None else []
    if len(coords) == len(design) and coords:
        return [f"{name}[{level}]" for level in coords]
    return design


def _variance_components(model: Any, component: Any) -> pd.DataFrame:
    import statsmodels.api as sm

    exog, labels, offset = _design(component)
    endog = np.asarray(model.response_term.data, dtype=float).ravel() - offset
    n = len(endog)
    group = component.design.group
    vc: dict[str, dict[int, np.ndarray]] = {}
    names = []
    for name in component.group_specific_terms:
        block = group.design_matrix[:, group.slices[name]]
        if n * block.shape[1] > MAX_VC_CELLS:
            raise NoReference(
                f"'{name}' has {block.shape[1]} levels: too many for statsmodels' dense"
                " variance components"
            )
        vc[name] = {0: np.asarray(block.toarray(), dtype=float)}
        names.append(name)
    fitted = sm.MixedLM(endog, exog, groups=np.zeros(n), exog_vc=vc).fit(reml=True)
    estimates = np.asarray(fitted.fe_params, dtype=float)
    ses = np.asarray(fitted.bse_fe, dtype=float)
    sds = np.sqrt(np.maximum(np.asarray(fitted.vcomp, dtype=float), 0.0))
    # statsmodels orders the components by name
    order = sorted(names)
    by_name = dict(zip(order, sds, strict=True))
    sigma = float(np.sqrt(fitted.scale))
    rows = [(label, e, s, "fixed") for label, e, s in zip(labels, estimates, ses, strict=True)]
    rows += [(f"{name}_sigma", by_name[name], np.nan, "sd") for name in names]
    rows.append(("sigma", sigma, sigma / np.sqrt(2 * (n - len(labels))), "sd"))
    return _frame(rows)


def _frame(rows: list[tuple[str, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "estimate": [r[1] for r in rows],
            "se": [r[2] for r in rows],
            "kind": [r[3] for r in rows],
        },
        index=pd.Index([r[0] for r in rows], name="term"),
    )


def _pooled(model: Any, component: Any, family: str, link: str) -> pd.DataFrame:
    import statsmodels.api as sm

    exog, labels, offset = _design(component)
    response = np.asarray(model.response_term.data, dtype=float)
    if family in ("cumulative",):
        return _ordered(model, exog, labels, response, link)
    if link not in _GLM_LINKS:
        raise NoReference(f"statsmodels has no {link} link for a {family} GLM")
    links = {
        "identity": sm.families.links.Identity(), "log": sm.families.links.Log(),
        "logit": sm.families.links.Logit(), "probit": sm.families.links.Probit(),
        "cloglog": sm.families.links.CLogLog(), "inverse": sm.families.links.InversePower(),
        "sqrt": sm.families.links.Sqrt(),
    }  # fmt: skip
    kwargs: dict[str, Any] = {"offset": offset if np.any(offset) else None}
    auxiliary: list[tuple[str, float, float, str]] = []
    if family == "gaussian":
        fitted = sm.GLM(response.ravel(), exog, family=sm.families.Gaussian(links[link]),
                        **kwargs).fit()  # fmt: skip
        auxiliary.append(("sigma", float(np.sqrt(fitted.scale)), np.nan, "auxiliary"))
    elif family == "lognormal" and link == "identity":
        fitted = sm.GLM(np.log(response.ravel()), exog, **kwargs).fit()
        auxiliary.append(("sigma", float(np.sqrt(fitted.scale)), np.nan, "auxiliary"))
    elif family == "bernoulli":
        fitted = sm.GLM(response.ravel(), exog, family=sm.families.Binomial(links[link]),
                        **kwargs).fit()  # fmt: skip
    elif family == "binomial":
        successes, trials = response[:, 0], response[:, 1]
        fitted = sm.GLM(successes / trials, exog, family=sm.families.Binomial(links[link]),
                        var_weights=trials, **kwargs).fit()  # fmt: skip
    elif family == "poisson":
        fitted = sm.GLM(response.ravel(), exog, family=sm.families.Poisson(links[link]),
                        **kwargs).fit()  # fmt: skip
    elif family in ("gamma", "inverse_gaussian"):
        chosen = sm.families.Gamma if family == "gamma" else sm.families.InverseGaussian
        fitted = sm.GLM(response.ravel(), exog, family=chosen(links[link]), **kwargs).fit()
        if family == "gamma":
            auxiliary.append(("alpha", _gamma_shape(response.ravel(), fitted.mu), np.nan,
                              "auxiliary"))  # fmt: skip
    elif family == "negativebinomial" and link == "log":
        fitted = sm.NegativeBinomial(response.ravel(), exog, loglike_method="nb2",
                                     **kwargs).fit(disp=0, maxiter=200)  # fmt: skip
        alpha = float(fitted.params[-1])
        se = float(fitted.bse[-1]) / alpha**2  # delta method for 1 / alpha
        auxiliary.append(("alpha", 1.0 / alpha, se, "auxiliary"))
        params, bse = np.asarray(fitted.params)[:-1], np.asarray(fitted.bse)[:-1]
        rows = [
            (lb, float(e), float(s), "fixed") for lb, e, s in zip(labels, params, bse, strict=True)
        ]
        return _frame(rows + auxiliary)
    else:
        raise NoReference(f"statsmodels has no maximum-likelihood fit of the {family} family here")
    params = np.asarray(fitted.params, dtype=float)
    bse = np.asarray(fitted.bse, dtype=float)
    rows = [(lb, float(e), float(s), "fixed") for lb, e, s in zip(labels, params, bse, strict=True)]
    return _frame(rows + auxiliary)


def _gamma_shape(y: np.ndarray, mu: np.ndarray) -> float:
    """The maximum-likelihood shape of a Gamma GLM given its fitted means (Bambi's ``alpha``).

    statsmodels estimates the dispersion by Pearson's moment estimator; R's MASS::gamma.shape
    and Bambi's ``alpha`` are the shape's maximum likelihood, found here in one dimension.
    """
    from scipy import optimize, stats

    def minus_loglik(log_shape: float) -> float:
        shape = np.exp(log_shape)
        return -float(stats.gamma.logpdf(y, a=shape, scale=mu / shape).sum())

    found = optimize.minimize_scalar(minus_loglik, bounds=(-10.0, 15.0), method="bounded")
    return float(np.exp(found.x))


def _ordered(
    model: Any, exog: np.ndarray, labels: list[str], response: np.ndarray, link: str
) -> pd.DataFrame:
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    if link not in ("logit", "probit"):
        raise NoReference(f"statsmodels' OrderedModel has no {link} link")
    codes = response.astype(int).ravel()
    levels = len(model.response_term.levels)
    fitted = OrderedModel(codes, exog, distr=link).fit(method="bfgs", disp=0, maxiter=2000)
    params = np.asarray(fitted.params, dtype=float)
    cov = np.asarray(fitted.cov_params(), dtype=float)
    k = exog.shape[1]
    rows = [
        (lb, float(params[i]), float(np.sqrt(cov[i, i])), "fixed") for i, lb in enumerate(labels)
    ]
    # statsmodels: the first threshold, then the logs of the increments
    raw = params[k:]
    thresholds = raw[0] + np.concatenate([[0.0], np.cumsum(np.exp(raw[1:]))])
    jacobian = np.zeros((levels - 1, levels - 1))
    jacobian[:, 0] = 1.0
    for j in range(1, levels - 1):
        jacobian[j, 1 : j + 1] = np.exp(raw[1 : j + 1])
    threshold_cov = jacobian @ cov[k:, k:] @ jacobian.T
    rows += [
        (f"threshold[{j}]", float(thresholds[j]), float(np.sqrt(threshold_cov[j, j])), "threshold")
        for j in range(levels - 1)
    ]
    return _frame(rows)


__all__ = ["MAX_VC_CELLS", "NoReference", "frequentist_reference"]
