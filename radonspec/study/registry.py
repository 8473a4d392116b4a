"""Bambi's families and links and PyMC's distributions, as data (generated).

Written by scripts/registry.py from bambi 0.21.0 and pymc 6.4.0; tests/study/test_registry.py
checks it still equals what the installed packages say. Do not edit by hand.
"""

from typing import Any

BAMBI_VERSION = "0.21.0"
PYMC_VERSION = "6.4.0"

#: family -> parent parameter, parameters, supported links, default links
FAMILIES: dict[str, dict[str, Any]] = {
    "asymmetriclaplace": {
        "parent": "mu",
        "params": ("mu", "b", "kappa"),
        "links": {
            "mu": ["identity", "log", "inverse"],
            "b": ["log"],
            "kappa": ["log"],
            "q": ["logit", "probit", "cloglog"],
        },
        "default_links": {"mu": "identity", "b": "log", "kappa": "log"},
    },
    "bernoulli": {
        "parent": "p",
        "params": ("p",),
        "links": {"p": ["identity", "logit", "probit", "cloglog"]},
        "default_links": {"p": "logit"},
    },
    "beta": {
        "parent": "mu",
        "params": ("mu", "kappa"),
        "links": {"mu": ["logit", "probit", "cloglog"], "kappa": ["log"]},
        "default_links": {"mu": "logit", "kappa": "log"},
    },
    "beta_binomial": {
        "parent": "mu",
        "params": ("mu", "kappa"),
        "links": {"mu": ["logit", "probit", "cloglog"], "kappa": ["log"]},
        "default_links": {"mu": "logit", "kappa": "log"},
    },
    "binomial": {
        "parent": "p",
        "params": ("p",),
        "links": {"p": ["identity", "logit", "probit", "cloglog"]},
        "default_links": {"p": "logit"},
    },
    "categorical": {
        "parent": "p",
        "params": ("p",),
        "links": {"p": ["softmax"]},
        "default_links": {"p": "softmax"},
    },
    "cumulative": {
        "parent": "p",
        "params": ("p", "threshold"),
        "links": {"p": ["logit", "probit", "cloglog"], "threshold": ["identity"]},
        "default_links": {"p": "logit", "threshold": "identity"},
    },
    "dirichlet_multinomial": {
        "parent": "a",
        "params": ("a",),
        "links": {"a": ["log"]},
        "default_links": {"a": "log"},
    },
    "exgaussian": {
        "parent": "mu",
        "params": ("mu", "sigma", "nu"),
        "links": {"mu": ["identity", "log", "inverse"], "sigma": ["log"], "nu": ["log"]},
        "default_links": {"mu": "identity", "sigma": "log", "nu": "log"},
    },
    "exponential": {
        "parent": "mu",
        "params": ("mu",),
        "links": {"mu": ["identity", "log", "inverse"]},
        "default_links": {"mu": "log"},
    },
    "gamma": {
        "parent": "mu",
        "params": ("mu", "alpha"),
        "links": {"mu": ["identity", "log", "inverse"], "alpha": ["log"]},
        "default_links": {"mu": "inverse", "alpha": "log"},
    },
    "gaussian": {
        "parent": "mu",
        "params": ("mu", "sigma"),
        "links": {"mu": ["identity", "log", "inverse"], "sigma": ["log"]},
        "default_links": {"mu": "identity", "sigma": "log"},
    },
    "hurdle_gamma": {
        "parent": "mu",
        "params": ("mu", "alpha", "psi"),
        "links": {
            "mu": ["identity", "log", "inverse"],
            "alpha": ["log"],
            "psi": ["logit", "probit", "cloglog"],
        },
        "default_links": {"mu": "log", "alpha": "log", "psi": "logit"},
    },
    "hurdle_lognormal": {
        "parent": "mu",
        "params": ("mu", "sigma", "psi"),
        "links": {
            "mu": ["identity", "log", "inverse"],
            "sigma": ["log"],
            "psi": ["logit", "probit", "cloglog"],
        },
        "default_links": {"mu": "identity", "sigma": "log", "psi": "logit"},
    },
    "hurdle_negativebinomial": {
        "parent": "mu",
        "params": ("mu", "alpha", "psi"),
        "links": {
            "mu": ["identity", "log", "cloglog"],
            "alpha": ["log"],
            "psi": ["logit", "probit", "cloglog"],
        },
        "default_links": {"mu": "log", "alpha": "log", "psi": "logit"},
    },
    "hurdle_poisson": {
        "parent": "mu",
        "params": ("mu", "psi"),
        "links": {"mu": ["identity", "log"], "psi": ["logit", "probit", "cloglog"]},
        "default_links": {"mu": "log", "psi": "logit"},
    },
    "laplace": {
        "parent": "mu",
        "params": ("mu", "b"),
        "links": {"mu": ["identity", "log", "inverse"], "b": ["log"]},
        "default_links": {"mu": "identity", "b": "log"},
    },
    "lognormal": {
        "parent": "mu",
        "params": ("mu", "sigma"),
        "links": {"mu": ["identity", "log", "inverse"], "sigma": ["log"]},
        "default_links": {"mu": "identity", "sigma": "log"},
    },
    "multinomial": {
        "parent": "p",
        "params": ("p",),
        "links": {"p": ["softmax"]},
        "default_links": {"p": "softmax"},
    },
    "negativebinomial": {
        "parent": "mu",
        "params": ("mu", "alpha"),
        "links": {"mu": ["identity", "log", "cloglog"], "alpha": ["log"]},
        "default_links": {"mu": "log", "alpha": "log"},
    },
    "poisson": {
        "parent": "mu",
        "params": ("mu",),
        "links": {"mu": ["identity", "log"]},
        "default_links": {"mu": "log"},
    },
    "sratio": {
        "parent": "p",
        "params": ("p", "threshold"),
        "links": {"p": ["logit", "probit", "cloglog"], "threshold": ["identity"]},
        "default_links": {"p": "logit", "threshold": "identity"},
    },
    "t": {
        "parent": "mu",
        "params": ("mu", "sigma", "nu"),
        "links": {"mu": ["identity", "log", "inverse"], "sigma": ["log"], "nu": ["log"]},
        "default_links": {"mu": "identity", "sigma": "log", "nu": "log"},
    },
    "vonmises": {
        "parent": "mu",
        "params": ("mu", "kappa"),
        "links": {"mu": ["identity"], "kappa": ["log"]},
        "default_links": {"mu": "identity", "kappa": "log"},
    },
    "wald": {
        "parent": "mu",
        "params": ("mu", "lam"),
        "links": {"mu": ["inverse", "inverse_squared", "identity", "log"], "lam": ["log"]},
        "default_links": {"mu": "inverse_squared", "lam": "log"},
    },
    "weibull": {
        "parent": "mu",
        "params": ("mu", "alpha"),
        "links": {"mu": ["log", "identity", "inverse"], "alpha": ["log"]},
        "default_links": {"mu": "log", "alpha": "log"},
    },
    "zero_inflated_binomial": {
        "parent": "p",
        "params": ("p", "psi"),
        "links": {
            "p": ["identity", "logit", "probit", "cloglog"],
            "psi": ["logit", "probit", "cloglog"],
        },
        "default_links": {"p": "logit", "psi": "logit"},
    },
    "zero_inflated_negativebinomial": {
        "parent": "mu",
        "params": ("mu", "alpha", "psi"),
        "links": {
            "mu": ["identity", "log", "cloglog"],
            "alpha": ["log"],
            "psi": ["logit", "probit", "cloglog"],
        },
        "default_links": {"mu": "log", "alpha": "log", "psi": "logit"},
    },
    "zero_inflated_poisson": {
        "parent": "mu",
        "params": ("mu", "psi"),
        "links": {"mu": ["identity", "log"], "psi": ["logit", "probit", "cloglog"]},
        "default_links": {"mu": "log", "psi": "logit"},
    },
}

LINKS: tuple[str, ...] = (
    "cloglog",
    "identity",
    "inverse",
    "inverse_squared",
    "log",
    "logit",
    "probit",
    "softmax",
)

#: name -> (class name, positional parameters, parameters, required parameters)
DISTRIBUTIONS: dict[str, tuple[Any, ...]] = {
    "AsymmetricLaplace": ("AsymmetricLaplace", ("kappa", "mu", "b"), ("kappa", "mu", "b", "q"), ()),
    "Bernoulli": ("Bernoulli", ("p",), ("p", "logit_p"), ()),
    "Beta": ("Beta", ("alpha", "beta"), ("alpha", "beta", "mu", "sigma", "nu"), ()),
    "BetaBinomial": (
        "BetaBinomial",
        ("alpha", "beta", "n"),
        ("alpha", "beta", "n"),
        ("alpha", "beta", "n"),
    ),
    "Binomial": ("Binomial", ("n", "p"), ("n", "p", "logit_p"), ("n",)),
    "Categorical": ("Categorical", ("p",), ("p", "logit_p"), ()),
    "Cauchy": ("Cauchy", ("alpha", "beta"), ("alpha", "beta"), ("alpha", "beta")),
    "DiracDelta": ("DiracDelta", ("c",), ("c",), ("c",)),
    "DiscreteUniform": (
        "DiscreteUniform",
        ("lower", "upper"),
        ("lower", "upper"),
        ("lower", "upper"),
    ),
    "DiscreteWeibull": ("DiscreteWeibull", ("q", "beta"), ("q", "beta"), ("q", "beta")),
    "ExGaussian": ("ExGaussian", ("mu", "sigma"), ("mu", "sigma", "nu"), ("nu",)),
    "Exponential": ("Exponential", ("lam",), ("lam", "scale"), ()),
    "Flat": ("Flat", (), (), ()),
    "Gamma": ("Gamma", ("alpha", "beta"), ("alpha", "beta", "mu", "sigma"), ()),
    "Geometric": ("Geometric", ("p",), ("p",), ("p",)),
    "Gumbel": ("Gumbel", ("mu", "beta"), ("mu", "beta"), ("mu", "beta")),
    "HalfCauchy": ("HalfCauchy", ("beta",), ("beta",), ("beta",)),
    "HalfFlat": ("HalfFlat", (), (), ()),
    "HalfNormal": ("HalfNormal", ("sigma",), ("sigma", "tau"), ()),
    "HalfStudentT": ("HalfStudentT", ("nu", "sigma"), ("nu", "sigma", "lam"), ("nu",)),
    "HyperGeometric": ("HyperGeometric", ("N", "k", "n"), ("N", "k", "n"), ("N", "k", "n")),
    "Interpolated": (
        "Interpolated",
        ("x_points", "pdf_points"),
        ("x_points", "pdf_points"),
        ("x_points", "pdf_points"),
    ),
    "InverseGamma": ("InverseGamma", ("alpha", "beta"), ("alpha", "beta", "mu", "sigma"), ()),
    "Kumaraswamy": ("Kumaraswamy", ("a", "b"), ("a", "b"), ("a", "b")),
    "LKJCorr": ("LKJCorr", ("eta",), ("eta",), ("eta",)),
    "Laplace": ("Laplace", ("mu", "b"), ("mu", "b"), ("mu", "b")),
    "LogNormal": ("LogNormal", ("mu", "sigma"), ("mu", "sigma", "tau"), ()),
    "Logistic": ("Logistic", ("mu", "s"), ("mu", "s"), ()),
    "Lognormal": ("LogNormal", ("mu", "sigma"), ("mu", "sigma", "tau"), ()),
    "Moyal": ("Moyal", ("mu", "sigma"), ("mu", "sigma"), ()),
    "NegativeBinomial": ("NegativeBinomial", ("mu", "alpha"), ("mu", "alpha", "p", "n"), ()),
    "Normal": ("Normal", ("mu", "sigma"), ("mu", "sigma", "tau"), ()),
    "Pareto": ("Pareto", ("alpha", "m"), ("alpha", "m"), ("alpha", "m")),
    "Poisson": ("Poisson", ("mu",), ("mu",), ("mu",)),
    "Rice": ("Rice", ("nu", "sigma"), ("nu", "sigma", "b"), ()),
    "SkewNormal": ("SkewNormal", ("alpha", "mu", "sigma"), ("alpha", "mu", "sigma", "tau"), ()),
    "SkewStudentT": ("SkewStudentT", ("a", "b"), ("a", "b", "mu", "sigma", "lam"), ("a", "b")),
    "StudentT": ("StudentT", ("nu", "mu"), ("nu", "mu", "sigma", "lam"), ("nu",)),
    "Triangular": ("Triangular", ("lower", "upper", "c"), ("lower", "upper", "c"), ()),
    "TruncatedNormal": (
        "TruncatedNormal",
        ("mu", "sigma"),
        ("mu", "sigma", "tau", "lower", "upper"),
        (),
    ),
    "Uniform": ("Uniform", ("lower", "upper"), ("lower", "upper"), ()),
    "VonMises": ("VonMises", ("mu", "kappa"), ("mu", "kappa"), ()),
    "Wald": ("Wald", ("mu", "lam"), ("mu", "lam", "phi", "alpha"), ()),
    "Weibull": ("Weibull", ("alpha", "beta"), ("alpha", "beta"), ("alpha", "beta")),
}

#: names a prior may not use -> why
REFUSED: dict[str, str] = {
    "CAR": "it is multivariate; a prior must be a univariate distribution",
    "Dirichlet": "it is multivariate; a prior must be a univariate distribution",
    "DirichletMultinomial": "it is multivariate; a prior must be a univariate distribution",
    "ICAR": "it is multivariate; a prior must be a univariate distribution",
    "KroneckerNormal": "it is multivariate; a prior must be a univariate distribution",
    "MatrixNormal": "it is multivariate; a prior must be a univariate distribution",
    "Multinomial": "it is multivariate; a prior must be a univariate distribution",
    "MvNormal": "it is multivariate; a prior must be a univariate distribution",
    "MvStudentT": "it is multivariate; a prior must be a univariate distribution",
    "PolyaGamma": "its density needs the 'polyagamma' package, which radonspec does not install",
    "StickBreakingWeights": "it is multivariate; a prior must be a univariate distribution",
    "Wishart": "it is multivariate; a prior must be a univariate distribution",
}
