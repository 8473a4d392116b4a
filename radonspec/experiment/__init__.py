"""Formula experimentation: sweeps, ``try``, ``watch``, spec diffs, scaffolding, prior checks.

Modules are imported on demand: ``spec.loader`` imports ``experiment.sweep``, and
nothing here may pull in the runner or the report at import time.
"""
