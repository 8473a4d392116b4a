"""The study language: schema, YAML loading, priors, formula checks, sweeps and spec diffs."""
