"""Peak memory (RSS) of `sdmresynth resynth` on long files: 10 and 60 minutes (1 and 3 in quick mode).

    python -m benchmarks.perf.memory [--quick] [--json]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from ..common import ROOT, Timer, main, result

CHILD = """
import resource, sys
from sdmresynth.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
    raise
"""


def peak_rss_mb(source: Path, target: Path) -> tuple[float, float]:
    with Timer() as t:
        done = subprocess.run([sys.executable, "-c", CHILD, "resynth", str(source), str(target), "--device", "cpu"],
                              capture_output=True, text=True, check=True)
    return int(done.stderr.strip().splitlines()[-1]) / 1024, t.seconds


def run(quick: bool = False) -> dict:
    speech, rate = sf.read(ROOT / "examples" / "speech.wav", dtype="float32")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for minutes in (1, 3) if quick else (10, 60):
            source = Path(folder) / f"{minutes}min.flac"
            sf.write(source, np.resize(speech, minutes * 60 * rate), rate)
            rss, seconds = peak_rss_mb(source, Path(folder) / "out.wav")
            rows.append({"minutes": minutes, "peak_rss_mb": rss, "seconds": seconds, "real_time_factor": seconds / (minutes * 60)})
            source.unlink()
    return result("peak memory of resynth on long files", rows, target="bounded; < 1024 MB for 60 min")


if __name__ == "__main__":
    main(run)
