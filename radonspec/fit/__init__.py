"""Fitting: planning fits, sampling one (sample), executors, the content-addressed store."""
