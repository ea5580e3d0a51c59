"""pond's benchmarks: each case timed against the reference tool in the same run, on the same data.

Run with `make bench` (or `python -m benchmarks [--quick]` from the repository
root). Results go to `docs/benchmarks.md` and `docs/benchmarks.json`.
"""
