"""``python -m radonspec``."""

from radonspec.cli import main

main()
