"""Resynthesis quality of sdmresynth models against the WORLD vocoder, on unseen speakers of three corpora.

WORLD: pyworld 0.3.x defaults (DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity, 5 ms frames), analysis
and synthesis of the peak-normalised input. sdmresynth: encode, decode, inverse STFT with the input's phase.
Both are scored against the peak-normalised 16 kHz input with the same metrics (pesq_wb, pesq_nb, stoi, estoi).

    pip install -e ".[bench]"          # pyworld (needs setuptools<81 for its pkg_resources import)
    python benchmarks/quality_vs_world.py [--model NAME ...] [--workers N] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
from common import SHARED, machine

from sdmresynth.data import files_from
from sdmresynth.scoring import FileScore, score_files, summarise
from sdmresynth.workers import worker_pool

SETS = {
    "librispeech-test": SHARED / "splits" / "test.txt",
    "speech-commands": SHARED / "speech_commands",
    "speechocean762-val": SHARED / "splits" / "speechocean762-val.txt",
}
METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "hoyer")


def world_one(path: str) -> FileScore:
    """WORLD analysis-synthesis of one file, scored like the models."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports pkg_resources, which warns on import
        import pyworld

    from sdmresynth.audio import peak_level, read_audio
    from sdmresynth.errors import UserError
    from sdmresynth.metrics import quality_metrics

    try:
        audio = read_audio(path)
        reference = audio.samples.astype(np.float64) / peak_level(audio.samples)
        f0, envelope, aperiodicity = pyworld.wav2world(reference, audio.sample_rate, frame_period=5.0)
        estimate = pyworld.synthesize(f0, envelope, aperiodicity, audio.sample_rate, frame_period=5.0)
        estimate = np.resize(estimate, len(reference)) if len(estimate) < len(reference) else estimate[: len(reference)]
        return FileScore("WORLD", path, quality_metrics(reference, estimate))
    except (UserError, ValueError) as error:
        return FileScore("WORLD", path, error=str(error))


def score_world(files: list[Path], workers: int) -> list[FileScore]:
    with worker_pool(workers) as pool:
        return list(pool.map(world_one, [str(f) for f in files], chunksize=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="sdmresynth model name or path (default: sdm-vae)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="3 files per set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    models = args.model or ["sdm-vae"]
    rows = []
    for set_name, source in SETS.items():
        if not source.exists():
            continue
        files = files_from(source)[: 3 if args.quick else None]
        results = summarise(score_world(files, args.workers)) + summarise(score_files(models, files, args.workers))
        for summary in results:
            row = {"set": set_name, "system": summary.name, "files": summary.files, "failed": summary.failed}
            row.update({m: summary.mean.get(m, math.nan) for m in METRICS})
            rows.append(row)
    if args.json:
        print(json.dumps({"benchmark": "quality_vs_world", "machine": machine(), "rows": rows}))
        return
    print(f"| set | system | files | {' | '.join(METRICS)} |")
    print("| --- | --- | --- |" + " --- |" * len(METRICS))
    for row in rows:
        values = " | ".join("-" if math.isnan(row[m]) else f"{row[m]:.3f}" for m in METRICS)
        print(f"| {row['set']} | {row['system']} | {row['files']} ({row['failed']} failed) | {values} |")


if __name__ == "__main__":
    main()
