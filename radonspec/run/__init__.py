"""Fitting: one fit (sample), the content-addressed store, and executors."""
