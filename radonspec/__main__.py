"""``python -m radonspec``."""

from radonspec.cli.app import main

main()
