"""Resynthesis speed: real-time factor of model + DSP on a 10 s file, whole-CLI wall time against
`python -c "import torch"`, and start-up of `sdmresynth --help` / `models` (which must not import torch).

    python -m benchmarks.perf.resynth [--quick] [--json]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from ..common import ROOT, Timer, main, result

import sdmresynth.api as sdm


def wall(command: list[str], repeats: int) -> float:
    """Best of `repeats` wall times of a command, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        with Timer() as t:
            subprocess.run(command, check=True, capture_output=True)
        best = min(best, t.seconds)
    return best


def real_time_factor(model, samples: np.ndarray, repeats: int) -> float:
    """Seconds of resynthesis per second of audio (best of `repeats`, after a warm-up)."""
    sdm.resynthesise(model, samples)
    runs = []
    for _ in range(repeats):
        with Timer() as t:
            sdm.resynthesise(model, samples)
        runs.append(t.seconds)
    return min(runs) / (len(samples) / 16000)


def run(quick: bool = False) -> dict:
    repeats = 1 if quick else 5
    speech, rate = sf.read(ROOT / "examples" / "speech.wav")
    ten_seconds = np.resize(speech, 10 * rate)
    model = sdm.load_model("sdm-vae", "cpu")
    rtf = real_time_factor(model, ten_seconds, repeats)
    # the default refines each frame's code at encode time; the same weights without refinement are the fast path
    single_pass = sdm.load_model("sdm-vae-log-dct-l64-k256-libri-so762", "cpu")
    single_pass_rtf = real_time_factor(single_pass, ten_seconds, repeats)
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.wav", Path(folder) / "out.wav"
        sf.write(source, ten_seconds, rate)
        cli = wall([sys.executable, "-m", "sdmresynth.cli", "resynth", str(source), str(target), "--device", "cpu"],
                   repeats)
    torch_import = wall([sys.executable, "-c", "import torch"], repeats)
    help_time = wall([sys.executable, "-m", "sdmresynth.cli", "--help"], repeats)
    models_time = wall([sys.executable, "-m", "sdmresynth.cli", "models"], repeats)
    rows = [
        {"what": "model + DSP, 10 s file (real-time factor), default (refined codes)", "value": rtf,
         "target": "< 0.1"},
        {"what": "model + DSP, 10 s file (real-time factor), one encoder pass", "value": single_pass_rtf,
         "target": "<= 0.01"},
        {"what": "CLI resynth of a 10 s file (s)", "value": cli, "target": "<= 1.3 x import torch"},
        {"what": "python -c 'import torch' (s)", "value": torch_import, "target": ""},
        {"what": "CLI resynth / import torch", "value": cli / torch_import, "target": "<= 1.3"},
        {"what": "sdmresynth --help (s)", "value": help_time, "target": "< 0.3"},
        {"what": "sdmresynth models (s)", "value": models_time, "target": "< 0.3"},
    ]
    return result("resynthesis and CLI speed", rows, model=model.name)


if __name__ == "__main__":
    main(run)
