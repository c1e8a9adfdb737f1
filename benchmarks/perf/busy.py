"""Speed that does not depend on the machine's other load: `sdmresynth resynth` of a 60 s file and `enhance` of a
30 s file (whole commands, as a user runs them), on the idle machine and beside busy-loop processes on all cores but
one, with the default threads and with torch's (every core).

    python -m benchmarks.perf.busy [--quick] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ..common import ROOT, Timer, main, result

BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"  # ends with the benchmark
THREADS = {None: "default (the free cores)", "1": "1", "0": "0 (every core)"}


def _inputs(folder: Path, quick: bool) -> dict[str, Path]:
    """A 60 s recording (6 s quick) and a 30 s noisy one (3 s quick), made from the example."""
    speech, rate = sf.read(ROOT / "examples" / "speech.wav")
    long, noisy = folder / "speech.wav", folder / "noisy.wav"
    sf.write(long, np.resize(speech, (6 if quick else 60) * rate), rate)
    short = np.resize(speech, (3 if quick else 30) * rate)
    noise = np.random.default_rng(0).standard_normal(len(short)) * np.sqrt(np.mean(short**2) / 10 ** 0.5)  # 5 dB
    sf.write(noisy, 0.5 * (short + noise) / np.max(np.abs(short + noise)), rate)
    return {"resynth": long, "enhance": noisy}


def _seconds(command: str, source: Path, target: Path, threads: str | None, repeats: int) -> float:
    """The best of `repeats` wall times of the whole command (threads None: its default)."""
    best = float("inf")
    for _ in range(repeats):
        with Timer() as timer:
            subprocess.run([sys.executable, "-m", "sdmresynth.cli", command, str(source), str(target), "--overwrite",
                            *(["--threads", threads] if threads else [])], check=True, capture_output=True)
        best = min(best, timer.seconds)
    return best


def _busy(processes: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(processes)]


def _all(inputs: dict[str, Path], target: Path, repeats: int) -> dict[tuple[str, str | None], float]:
    """Each command's seconds with each thread setting."""
    return {(command, threads): _seconds(command, source, target, threads, repeats)
            for command, source in inputs.items() for threads in THREADS}


def run(quick: bool = False) -> dict:
    """Every command and thread setting on the idle machine, then the same beside the busy loops."""
    repeats = 1 if quick else 3
    others = max((os.cpu_count() or 1) - 1, 1)
    with tempfile.TemporaryDirectory() as folder:
        inputs = _inputs(Path(folder), quick)
        idle = _all(inputs, Path(folder) / "out.wav", repeats)
        loops = _busy(others)
        try:
            time.sleep(1)
            busy = _all(inputs, Path(folder) / "out.wav", repeats)
        finally:
            for loop in loops:
                loop.kill()
        rows = [{"command": f"{command} {sf.info(inputs[command]).duration:.0f} s", "threads": THREADS[threads],
                 "idle_s": idle[command, threads], "busy_s": busy[command, threads],
                 "slowdown": busy[command, threads] / idle[command, threads]} for command, threads in idle]
    return result(f"speed beside {others} busy-loop process(es)", rows, target="slowdown <= 1.5 with the defaults")


if __name__ == "__main__":
    main(run)
