"""Comparison and analysis of fits: diagnostics, LOO and k-fold, predictive checks, groups."""
