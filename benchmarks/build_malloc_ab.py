"""Store builds alternated in random order: 1 worker, 2 workers as shipped, and 2 workers with the store workers'
malloc settings (sdmresynth.workers.REUSE_FREED_MEMORY) left out, each in a fresh process with a fresh cache; the
medians, the speed-ups over one worker and the paired ratio of the two 2-worker variants (benchmarks/RESULTS.md,
section 8, "The workers' malloc").

    python benchmarks/build_malloc_ab.py [--list LIST] [--rounds N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
from pathlib import Path

from bench_scale import build_store
from common import TRAIN_LIST, machine

VARIANTS = {"1 worker": (1, "shipped"), "2 workers": (2, "shipped"), "2 workers, default malloc": (2, "default-malloc")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, default=TRAIN_LIST, help="the files to build a store of")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            order = random.Random(round_).sample(list(VARIANTS), len(VARIANTS))
            for name in order:
                cache = Path(folder) / "cache"
                shutil.rmtree(cache, ignore_errors=True)
                workers, malloc = VARIANTS[name]
                seconds[name].append(build_store(args.list, cache, workers, "float32", malloc))
            print(f"round {round_ + 1}: " + ", ".join(f"{name} {seconds[name][-1]:.2f} s" for name in VARIANTS),
                  flush=True)
    print(f"{args.rounds} rounds of {args.list} ({machine()})")
    for name in VARIANTS:
        print(f"{name}: median {statistics.median(seconds[name]):.3f} s")
    for name in list(VARIANTS)[1:]:
        ratios = [one / two for one, two in zip(seconds["1 worker"], seconds[name])]
        print(f"speed-up of {name}: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
    paired = [new / old for new, old in zip(seconds["2 workers"], seconds["2 workers, default malloc"])]
    print(f"2 workers as shipped / with default malloc, paired: median {statistics.median(paired):.3f}")


if __name__ == "__main__":
    main()
