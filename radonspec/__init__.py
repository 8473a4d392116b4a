"""radonspec: declarative YAML model specs for Bayesian multilevel regression."""

__version__ = "0.1.0"
