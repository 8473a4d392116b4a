"""The radonspec benchmark harness: ``python -m bench --help``."""
