"""Benchmarks (perf/: speed and memory, one command line) and experiments (experiments/: the scripts that regenerate
docs/*.md), run from the repository's root with `python -m benchmarks.perf` or `python -m benchmarks.experiments.NAME`."""
