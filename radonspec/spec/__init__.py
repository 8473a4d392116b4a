"""The spec language: schema, YAML loading, priors and formula checks."""
