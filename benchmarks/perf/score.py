"""Scoring throughput: `sdmresynth score` with 1 and 2 worker processes, whole command, as a user runs it
(pesq and pystoi are the floor).

    python -m benchmarks.perf.score [--quick] [--json]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from ..common import TEST_LIST, Timer, main, result, speech_files

from sdmresynth.io.corpus import read_list


def run(quick: bool = False) -> dict:
    files = read_list(TEST_LIST) if TEST_LIST.is_file() else speech_files()
    files = files[:4] if quick else files
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        file_list = Path(folder) / "files.txt"
        file_list.write_text("".join(f"{f.resolve()}\n" for f in files))
        for workers in (1, 2):
            command = [sys.executable, "-m", "sdmresynth.cli", "score", "--model", "sdm-vae", "--list",
                       str(file_list), "--workers", str(workers), "--json"]
            with Timer() as t:
                subprocess.run(command, check=True, capture_output=True)
            rows.append({"workers": workers, "files": len(files), "seconds": t.seconds,
                         "files_per_s": len(files) / t.seconds})
    return result("scoring throughput (whole CLI)", rows, speedup_2_vs_1=rows[1]["files_per_s"] / rows[0]["files_per_s"])


if __name__ == "__main__":
    main(run)
