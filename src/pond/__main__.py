"""`python -m pond`: the same as the `pond` command."""

from pond.cli.main import main

main()
