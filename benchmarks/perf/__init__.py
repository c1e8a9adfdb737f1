"""Speed and memory benchmarks, each a module with run(quick) -> its result: `python -m benchmarks.perf [--quick]
[--json] [NAME ...]` runs them (all by default); targets are checked here, never by timed unit tests."""

NAMES = ("training", "data", "resynth", "score", "memory", "scale", "busy", "gpu")
