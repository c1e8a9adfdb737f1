"""Store builds alternated in random order, each in a fresh process with a fresh cache: 1 worker and 2 workers as
`sdmresynth train --build-only` builds (its workers started while it imports torch), and 2 workers started by the
build itself (a library call of load_frames in a fresh process), with and without the workers' malloc settings
(sdmresynth.workers.REUSE_FREED_MEMORY). Each build's seconds are its store manifest's (the build alone); the medians,
the speed-ups over one worker and their range (benchmarks/RESULTS.md, section 8).

    python benchmarks/build_workers_ab.py [--list LIST] [--rounds N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_scale import build_seconds, build_store
from common import TRAIN_LIST, machine

LIBRARY_BUILD = """
import sys
from pathlib import Path
import sdmresynth.workers
if sys.argv[3] == "default-malloc":  # the store workers without their malloc settings
    sdmresynth.workers.REUSE_FREED_MEMORY = {}
from sdmresynth.data import load_frames, read_list
from sdmresynth.stft import StftConfig
load_frames(read_list(Path(sys.argv[1])), StftConfig(), Path(sys.argv[2]), workers=2)
"""
VARIANTS = ["1 worker", "2 workers", "2 workers started by the build", "2 workers started by the build, default malloc"]


def library_build(listing: Path, cache: Path, malloc: str) -> float:
    """Seconds of a 2-worker build by load_frames in a fresh process, from the store's manifest."""
    subprocess.run([sys.executable, "-c", LIBRARY_BUILD, str(listing), str(cache), malloc], check=True)
    (store,) = cache.glob("store-*")
    return build_seconds(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, default=TRAIN_LIST, help="the files to build a store of")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    listing = args.list.resolve()
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        val = Path(folder) / "val.txt"
        val.write_text(f"{listing.parent / listing.read_text().split()[0]}\n")  # a small validation list for `train`
        for round_ in range(args.rounds):
            for name in random.Random(round_).sample(VARIANTS, len(VARIANTS)):
                cache = Path(folder) / "cache"
                shutil.rmtree(cache, ignore_errors=True)
                if name.startswith("2 workers started by the build"):
                    took = library_build(listing, cache, "default-malloc" if "default" in name else "shipped")
                else:
                    took = build_store(listing, val, cache, int(name[0]), "float32")
                seconds[name].append(took)
            print(f"round {round_ + 1}: " + ", ".join(f"{name} {seconds[name][-1]:.2f} s" for name in VARIANTS),
                  flush=True)
    print(f"{args.rounds} rounds of {args.list} ({machine()})")
    for name in VARIANTS:
        print(f"{name}: median {statistics.median(seconds[name]):.3f} s")
    for name in VARIANTS[1:]:
        ratios = [one / two for one, two in zip(seconds["1 worker"], seconds[name])]
        print(f"speed-up of {name}: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
