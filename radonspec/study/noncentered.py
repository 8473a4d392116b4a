"""Which group-specific priors Bambi can sample in the non-centered form.

Bambi (0.21, ``backend.terms.build_distribution``) writes a group-specific effect with
hyperpriors non-centered as ``offset * sigma`` with ``offset ~ Normal(0, 1)``: it
raises ``NotImplementedError`` for any other distribution, and for a Normal it keeps
``sigma`` alone, so a ``mu`` other than 0 would be dropped without a word. A prior
without hyperpriors is sampled as written, whatever ``noncentered`` says.
"""

from __future__ import annotations

from radonspec.study.priors import PriorNode


def noncentered_problem(prior: PriorNode) -> str | None:
    """Why ``prior`` cannot be a non-centered group-specific prior; ``None`` if it can."""
    args = dict(prior.args)
    if not any(isinstance(value, PriorNode) for value in args.values()):
        return None  # no hyperprior: nothing to reparametrise
    if prior.dist != "Normal":
        return f"is a {prior.dist}, and the non-centered form is a Normal only"
    if not isinstance(args.get("sigma"), PriorNode):
        return "has a fixed sigma, and the non-centered form needs a prior on sigma"
    if args.get("mu", 0) != 0:
        return "has a mu other than 0, which the non-centered form Normal(0, sigma) drops"
    return None
