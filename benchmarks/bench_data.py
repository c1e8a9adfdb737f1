"""Data preparation: seconds to turn the shared train split into training frames, cold and from the cache.

    python benchmarks/bench_data.py [--quick] [--json]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import Timer, parse, report, speech_files

from sdmresynth.data import load_frames
from sdmresynth.stft import StftConfig


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    files = speech_files(limit=8 if args.quick else None)
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
    ]
    report("data preparation", rows, args, files=len(files), frames=len(frames), speedup=cold.seconds / warm.seconds)


if __name__ == "__main__":
    main()
