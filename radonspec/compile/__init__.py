"""Compile: a resolved model spec and its data become a checked Bambi model."""
