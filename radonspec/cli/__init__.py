"""The command line: the Typer app, its commands, progress and printing (a client of the API)."""
