"""Data preparation: seconds to turn the shared train split into training frames, cold and from the cache, and in
a fresh process (as a store worker computes them) with and without the workers' malloc settings.

    python -m benchmarks.perf.data [--quick] [--json]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ..common import Timer, main, result, speech_files

from sdmresynth.training.sets import load_frames
from sdmresynth.dsp.stft import StftConfig
from sdmresynth.workers import REUSE_FREED_MEMORY

FRESH_PROCESS = """
import json, resource, sys, time
from pathlib import Path
from sdmresynth.training.features import file_frames
from sdmresynth.dsp.stft import StftConfig
paths = [Path(line) for line in sys.stdin.read().splitlines()]
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for path in paths:
    file_frames(path, StftConfig())
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - started, "system_s": after.ru_stime - before.ru_stime,
                  "page_faults": after.ru_minflt - before.ru_minflt}))
"""


def fresh_process_rows(files: list[Path], rounds: int) -> list[dict]:
    """file_frames over `files` in fresh processes, alternating default malloc and the store workers' settings; the
    medians of `rounds` runs each."""
    runs: dict[str, list[dict]] = {"default malloc": [], "workers' malloc (REUSE_FREED_MEMORY)": []}
    for _ in range(rounds):
        for name, extra in zip(runs, ({}, REUSE_FREED_MEMORY)):
            done = subprocess.run([sys.executable, "-c", FRESH_PROCESS], input="\n".join(map(str, files)),
                                  env=os.environ | extra, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(done.stdout))
    return [{"start": f"fresh process, {name}"} | {key: statistics.median(run[key] for run in measured)
                                                     for key in measured[0]} for name, measured in runs.items()]


def run(quick: bool = False) -> dict:
    files = speech_files(limit=8 if quick else None)
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        with Timer() as cold:
            frames = load_frames(files, StftConfig(), cache).frames
        with Timer() as warm:
            load_frames(files, StftConfig(), cache)
        with Timer() as changed:  # other STFT settings: the cache must not answer
            load_frames(files, StftConfig(hop=512), cache)
    rows = [
        {"start": "cold (decode, STFT, trim)", "seconds": cold.seconds},
        {"start": "cached", "seconds": warm.seconds},
        {"start": "cold, other STFT settings", "seconds": changed.seconds},
        *fresh_process_rows(files, 1 if quick else 5),
    ]
    return result("data preparation", rows, files=len(files), frames=len(frames), speedup=cold.seconds / warm.seconds)


if __name__ == "__main__":
    main(run)
