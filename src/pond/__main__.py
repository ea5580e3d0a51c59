"""`python -m pond`: the same as the `pond` command."""

from pond.cli.entry import main

main()
