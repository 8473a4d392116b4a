"""Correlated group-specific effects, lme4's ``(x | g)``, built through Bambi.

Bambi draws each group-specific term on its own: ``1|county ~ Normal(0, s0)`` and
``floor|county ~ Normal(0, s1)``, independently. For a factor listed in a model's
``correlated:``, radonspec draws the coefficients of all that factor's terms jointly,
group by group, from ``MvNormal(0, diag(s) R diag(s))`` with an LKJ prior on the
correlation matrix ``R``, as lme4 and brms do by default.

The model stays Bambi's: the terms are still built by Bambi's own builder, in its
order, with its names, dims and hyperpriors (``1|county_sigma`` keeps the prior the
spec gives it). ``install`` swaps the class Bambi's model builder uses for a
group-specific term (as ``design.install`` swaps its ``dot``) for one that, for the
terms of a correlated factor only, replaces the independent draw by the joint one.
With ``s`` the terms' scales and ``L`` the Cholesky factor of ``R`` (``pm.LKJCorr``,
which PyMC parametrises by that factor), ``C = diag(s) L`` is the Cholesky factor of
the covariance, and because ``C`` is lower triangular, term ``t`` needs only the terms
built before it:

- non-centered (``noncentered: true``, Bambi's default): ``1|county_offset`` and
  ``floor|county_offset`` stay the standard normals Bambi draws; the coefficients are
  ``z @ C.T``, column block by column block, stored as the Deterministics
  ``1|county`` and ``floor|county``, exactly where Bambi stores them.
- centered: each term stays a random variable of its own name, drawn from its
  conditional distribution given the terms before it: ``b_t | b_<t ~ Normal(C[t,<t]
  z_<t, C[t,t])`` with ``z = C^-1 b`` (a multivariate normal for a term with several
  columns). The product of these conditionals is the joint multivariate normal.

This is the covariance that ``pm.LKJCholeskyCov(eta, sd_dist=...)`` defines, with the
scales kept as Bambi's own variables, so that scales with different priors (a
``HalfNormal(5)`` intercept SD beside a ``HalfNormal(1)`` slope SD) keep them. The
correlations are stored as the Deterministic ``cor|county`` over the pairs of terms
(``"1, floor"``); the Cholesky factor itself, whose upper triangle is constant, is
left out of the stored posterior (Bambi drops variables over dims it has no
coordinates for).

Everything downstream reads Bambi's names and needs nothing new: predictions,
log-likelihood, LOO, group estimates. Bambi's predictions for groups the fit never
saw take, at each draw, all the terms of one existing group (``model_components``'
``_construct_u_with_new_groups``), so a new group's intercept and slope keep their
joint distribution.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from radonspec.study.correlated import correlation_key, eta_of, pair_labels, requested_factors

if TYPE_CHECKING:
    from radonspec.study.formula import FormulaInfo
    from radonspec.study.schema import ModelSpec

#: The attribute of a ``bambi.Model`` holding its ``CorrelatedPlan``.
ATTRIBUTE = "_radonspec_correlated"


@dataclass(frozen=True)
class CorrelatedPlan:
    """Which factors of a Bambi model get correlated effects, with their LKJ ``eta``."""

    eta: dict[str, float]


#: Per PyMC model being built, per factor: what the terms built so far left for the next.
#: Keyed weakly, so a model's state goes with the model (and a rebuild starts afresh).
_STATES: weakref.WeakKeyDictionary[Any, dict[str, _FactorState]] = weakref.WeakKeyDictionary()


@dataclass
class _FactorState:
    columns: list[str]  # the column labels of every term of the factor, in build order
    chol: Any  # Cholesky factor of the correlation, (K, K)
    scales: list[Any] = field(default_factory=list)  # per built column
    standard: list[Any] = field(default_factory=list)  # z of each built column, (J,)


def plan_model(model: Any, spec: ModelSpec, main: FormulaInfo) -> CorrelatedPlan | None:
    """Mark a built-but-not-sampled ``bambi.Model`` for correlated effects; check it can be.

    Returns the plan attached to ``model`` (``None`` when no factor is correlated).

    Raises
    ------
    ValueError
        With a message (no location) when a requested factor cannot be correlated: the
        family is multivariate, the factor has a single coefficient, or a term's prior is
        not ``Normal(0, sigma=<prior>)``.
    """
    factors = requested_factors(spec, main)
    if not factors:
        return None
    from bambi.families.multivariate import MultivariateFamily
    from bambi.families.univariate import Categorical

    if isinstance(model.family, MultivariateFamily | Categorical):
        raise ValueError(
            f"correlated effects are not supported for family '{spec.family}', whose"
            " coefficients have one value per response level; remove correlated"
        )
    component = model.parameters[model.family.likelihood.parent]
    eta: dict[str, float] = {}
    for factor in factors:
        terms = _factor_terms(component, factor)
        columns = _columns(terms)
        if len(columns) < 2:
            if spec.correlated is True:
                continue  # one coefficient: nothing to correlate (lme4 neither)
            raise ValueError(
                f"'{factor}' in correlated has one group-specific coefficient"
                f" ({', '.join(t.name for t in terms)}): there is nothing to correlate; add a"
                f" slope, e.g. (x | {factor}), or remove '{factor}' from correlated"
            )
        for term in terms:
            _check_prior(term)
        eta[factor] = eta_of(spec, factor)
    if not eta:
        return None
    plan = CorrelatedPlan(eta)
    setattr(model, ATTRIBUTE, plan)
    return plan


def _factor_terms(component: Any, factor: str) -> list[Any]:
    return [
        term
        for term in component.group_specific_terms.values()
        if term.name.split("|", 1)[1] == factor
    ]


def _columns(terms: Sequence[Any]) -> list[str]:
    """One label per coefficient of a group: ``1``, ``floor``, ``C(x)[b]``."""
    labels: list[str] = []
    for term in terms:
        expr = term.name.split("|", 1)[0]
        levels = term.coords.get(f"{expr}__expr_dim")
        if levels is None:
            labels.append(expr)
        else:
            labels += [f"{expr}[{level}]" for level in levels]
    return labels


def _check_prior(term: Any) -> None:
    from bambi.priors import Prior

    prior = term.prior
    args = getattr(prior, "args", {})
    sigma = args.get("sigma")
    mu = args.get("mu", 0)
    centred = not isinstance(mu, Prior) and bool(np.all(np.asarray(mu) == 0))
    if getattr(prior, "name", None) != "Normal" or not isinstance(sigma, Prior) or not centred:
        raise ValueError(
            f"the prior of '{term.name}' is {' '.join(str(prior).split())}; correlated"
            " effects are multivariate normal, so it must be Normal(0, sigma=<a prior on"
            f" the SD>), e.g. '{term.name}': Normal(0, sigma=HalfNormal(5))"
        )


@functools.cache
def _builder() -> type:
    """Bambi's builder of a group-specific term, with correlated factors drawn jointly."""
    import pymc as pm
    import pytensor.tensor as pt
    from bambi.backend.terms import GroupSpecificTerm

    class CorrelatedGroupSpecificTerm(GroupSpecificTerm):
        def build(self, spec: Any) -> Any:
            plan = getattr(spec, ATTRIBUTE, None)
            factor = self.term.name.split("|", 1)[1]
            if plan is None or self.term.prefix or factor not in plan.eta:
                return super().build(spec)
            model = pm.modelcontext(None)
            states = _STATES.setdefault(model, {})
            if factor not in states:
                states[factor] = _start(model, spec, factor, plan.eta[factor])
            state = states[factor]
            return self._build_joint(state)

        def _build_joint(self, state: _FactorState) -> Any:
            label = self.name
            dims = list(self.coords)  # factor dim, then the expression's dim if any
            hyper_dims = [d for d in dims if not d.endswith("__factor_dim")]
            prior = self.term.prior
            sigma_label = f"{label}_{self.term.hyperprior_alias.get('sigma', 'sigma')}"
            sigma = self.build_distribution(prior.args["sigma"], sigma_label, hyper_dims)
            width = len(self.coords[dims[1]]) if len(dims) > 1 else 1
            start = len(state.standard)
            end = start + width
            scale = pt.broadcast_to(pt.atleast_1d(sigma), (width,))
            rows = state.chol[start:end]  # this term's rows of L, (width, K)
            previous = pt.stack(state.standard, axis=1) if start else None
            nc = prior.noncentered if prior.noncentered is not None else self.noncentered
            if nc:
                offset = pm.Normal(f"{label}_offset", mu=0, sigma=1, dims=dims)
                z = offset.reshape((-1, width))
                upto = z if previous is None else pt.concatenate([previous, z], axis=1)
                values = pt.dot(upto, rows[:, :end].T) * scale
                coef = pm.Deterministic(label, values if width > 1 else values[:, 0], dims=dims)
            else:
                mean: Any = 0.0
                if previous is not None:
                    mean = pt.dot(previous, rows[:, :start].T) * scale
                block = scale[:, None] * rows[:, start:end]  # lower triangular, (width, width)
                if width == 1:
                    centre = mean if previous is None else mean[:, 0]
                    coef = pm.Normal(label, mu=centre, sigma=block[0, 0], dims=dims)
                    z = ((coef - centre) / block[0, 0])[:, None]
                else:
                    mu = pt.zeros((len(self.coords[dims[0]]), width)) + mean
                    coef = pm.MvNormal(label, mu=mu, chol=block, dims=dims)
                    z = pt.linalg.solve_triangular(block, (coef - mu).T, lower=True).T
            state.standard += [z[:, i] for i in range(width)]
            return coef

    return CorrelatedGroupSpecificTerm


def _start(model: Any, spec: Any, factor: str, eta: float) -> _FactorState:
    """The LKJ Cholesky factor and the stored correlations of one factor, built once."""
    import pymc as pm
    import pytensor.tensor as pt

    component = spec.parameters[spec.family.likelihood.parent]
    columns = _columns(_factor_terms(component, factor))
    size = len(columns)
    key = correlation_key(factor)
    # no dims: Bambi keeps only variables over dims it has coordinates for, so the
    # factor, whose upper triangle is constant (an R-hat of NaN), stays out of the fit
    chol = pm.LKJCorr(f"{key}_cholesky", n=size, eta=eta, default_transform=_transform()(size))
    pairs = f"{key}__pair_dim"
    model.add_coords({pairs: pair_labels(columns)})
    upper = np.triu_indices(size, k=1)
    pm.Deterministic(key, pt.dot(chol, chol.T)[upper], dims=(pairs,))
    return _FactorState(columns=columns, chol=chol)


@functools.cache
def _transform() -> type:
    """PyMC's transform of ``LKJCorr`` under a name without '_'.

    PyMC names a transformed value ``{name}_{transform}__`` and undoes it by dropping
    the last two '_'-separated parts, so its ``cholesky_corr`` comes back as
    ``{name}_cholesky`` and ``pm.compute_log_likelihood`` (which every sampled fit
    calls) fails on a name it cannot find (pymc 6.4).
    """
    from pymc.distributions.transforms import CholeskyCorrTransform

    class CholeskyCorr(CholeskyCorrTransform):
        name = "choleskycorr"

    return CholeskyCorr


def install() -> None:
    """Make Bambi build the terms of correlated factors jointly (idempotent).

    Models without a ``CorrelatedPlan`` are built exactly as Bambi builds them.
    """
    from bambi.backend import model_components

    model_components.GroupSpecificTerm = _builder()


def installed() -> bool:
    """Whether Bambi's model builder uses radonspec's group-specific term builder."""
    from bambi.backend import model_components

    return model_components.GroupSpecificTerm is _builder()
