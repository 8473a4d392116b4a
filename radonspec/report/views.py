"""The report's per-model figure sections: posterior predictive checks, prior vs posterior.

Each function reads fits, hands plain arrays to ``radonspec.report.plots`` and
returns a ``Section`` of rendered images plus notes for whatever could not be
drawn. The group-level views live in ``radonspec.report.groupviews``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from radonspec.compare.loo import loo_pit
from radonspec.report import plots
from radonspec.report.content import (
    Content,
    Image,
    Section,
    attempt,
    draws_matrix,
    observed_name,
)

MAX_PRIOR_PANELS = 12


def _image(
    name: str, title: str, caption: str, draw: Callable[..., Any], *args: Any, **kwargs: Any
) -> Image:
    """Draw a figure and render it; drawing and rendering fail (and are noted) together."""
    return Image(name, title, caption, plots.to_png(draw(*args, **kwargs)))


# -- posterior predictive checks ------------------------------------------------------------

PPC_CAPTION = (
    "Left: the observed data (black) against {draws} data sets replicated from the"
    " posterior. Right: the LOO-PIT Δ-ECDF, which stays inside the grey 95% envelope for a"
    " calibrated model; above zero on the left and below on the right means predictive"
    " distributions that are too narrow, the reverse too wide, and one hump above (below)"
    " zero predictions that are too high (too low)."
)


def ppc_section(content: Content, trees: Mapping[str, xr.DataTree]) -> Section:
    """One posterior predictive check per model: density (or frequencies) and LOO-PIT."""
    section = Section()
    for view in content.models:
        tree = trees.get(view.name)
        if tree is None:
            section.notes.append(f"'{view.name}' has no check: {view.error or view.status}.")
            continue
        name = observed_name(tree)
        if name is None:
            section.notes.append(
                f"'{view.name}' has no posterior predictive draws to check"
                " (its sampler has predictive: false)."
                if "posterior_predictive" not in tree.children
                else f"'{view.name}' has no posterior predictive draws to check."
            )
            continue
        observed = np.asarray(tree["observed_data"][name], dtype=float)
        replicated = draws_matrix(tree["posterior_predictive"].to_dataset()[name])
        pit = None
        if "log_likelihood" in tree.children:
            pit = attempt(
                section.notes,
                f"The LOO-PIT of '{view.name}'",
                loo_pit,
                tree,
                var_name=name,
            )
        image = attempt(
            section.notes,
            f"The predictive check of '{view.name}'",
            _image,
            f"ppc-{view.name}",
            f"Posterior predictive check: {view.name}",
            PPC_CAPTION.format(draws=min(plots.PPC_DRAWS, replicated.shape[0])),
            plots.ppc_figure,
            view.name,
            view.colour,
            observed,
            replicated,
            pit,
            name,
        )
        if image is not None:
            section.images.append(image)
    return section


# -- prior vs posterior ---------------------------------------------------------------------


def prior_section(content: Content, trees: Mapping[str, xr.DataTree]) -> Section:
    """Prior and posterior of each population-level effect, for fits holding prior draws."""
    section = Section()
    for view in content.models:
        tree = trees.get(view.name)
        if tree is None or "prior" not in tree.children:
            continue
        wanted = [
            row.label.split("[")[0]
            for part in view.sections
            if part.title == "Population-level effects"
            for row in part.rows
        ]
        pairs = _prior_pairs(tree, list(dict.fromkeys(wanted)))
        if not pairs:
            section.notes.append(f"'{view.name}' has no population-level effect with prior draws.")
            continue
        shown = pairs[:MAX_PRIOR_PANELS]
        caption = (
            "Dashed grey: the prior; solid: the posterior. Where the posterior is much"
            " narrower than the prior, the data dominate; where the two agree, the prior does."
        )
        if len(pairs) > len(shown):
            caption += f" The first {len(shown)} of {len(pairs)} effects are shown."
        image = attempt(
            section.notes,
            f"The prior-posterior plot of '{view.name}'",
            _image,
            f"prior-{view.name}",
            f"Prior vs posterior: {view.name}",
            caption,
            plots.prior_posterior_figure,
            view.name,
            view.colour,
            shown,
        )
        if image is not None:
            section.images.append(image)
    return section


def _prior_pairs(tree: xr.DataTree, names: list[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    prior, posterior = tree["prior"], tree["posterior"]
    pairs = []
    for name in names:
        if name not in prior.data_vars or name not in posterior.data_vars:
            continue
        before = draws_matrix(prior.to_dataset()[name])
        after = draws_matrix(posterior.to_dataset()[name])
        others = [d for d in posterior[name].dims if d not in ("chain", "draw")]
        labels = [name]
        if others:
            stacked = posterior[name].stack(__v__=others)["__v__"].values
            labels = [f"{name}[{_label(v)}]" for v in stacked]
        pairs += [(label, before[:, i], after[:, i]) for i, label in enumerate(labels)]
    return pairs


def _label(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
