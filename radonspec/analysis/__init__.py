"""Analysis of fits: diagnostics, comparison (PSIS-LOO, k-fold), predictive checks, groups."""
