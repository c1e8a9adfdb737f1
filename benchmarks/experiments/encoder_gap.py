"""How far a one-pass encoder is from the best code its decoder allows (#34's "what limits it").

For each model: its one-pass code, and each frame's code optimised to convergence (Adam on the mean, the encoder's
variances kept, as `--refine-steps` does but with many more steps) for several KL weights. The optimised codes are
what any encoder, however trained, could at best give with this decoder at that KL weight: if no KL weight reaches a
target pair (PESQ-WB, Hoyer), encoder work alone cannot reach it and the decoder (the model) is the limit. Scored on
the LibriSpeech validation split (the split every lever was chosen on), against the peak-normalised input, input phase.

    python -m benchmarks.experiments.encoder_gap [--model NAME_OR_PATH ...] [--kl-weights 1,1.5,2,3] [--steps 300]
        [--floor-db D] [--list LIST] [--workers N] [--json OUT]

--floor-db D asks whether another fidelity term would let the same decoder do better: the optimum's divergence is
then taken between power and variances both floored at D dB below the frame's largest power bin (a crude masking
threshold: what is far below the frame's peak stops counting), the KL as before.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..common import FALLBACK_CLIPS, SHARED, machine

VAL_LIST = SHARED / "splits" / "val.txt"
METRICS = ("pesq_wb", "stoi", "hoyer", "active")
_MODELS: dict = {}  # (model, steps, kl weight) -> the loaded model, per worker


def _model(name: str, steps: int, kl_weight: float):
    from sdmresynth.inference.model import load_model

    key = (name, steps, kl_weight)
    if key not in _MODELS:
        loaded = load_model(name, "cpu")
        loaded.model.config = replace(loaded.model.config, refine_steps=steps, refine_kl_weight=kl_weight)
        _MODELS[key] = loaded
    return _MODELS[key]


def floored_optimum(model, power, steps: int, kl_weight: float, floor_db: float):
    """Each frame's code after `steps` Adam steps on the IS divergence of power and decoded variances floored at
    floor_db below the frame's peak bin, + kl_weight x KL (the encoder's variances kept)."""
    import torch

    from sdmresynth.dsp.divergence import itakura_saito
    from sdmresynth.models.base import Posterior
    from sdmresynth.models.descent import adam_descent

    posterior = model.encode(power)
    log_floor = torch.log(power.max(dim=1, keepdim=True).values + 1e-10) - floor_db / 10 * np.log(10)
    floored = torch.maximum(power, log_floor.exp())

    def objective(mu):
        log_variance = torch.maximum(model.decode(model.to_latent(mu)), log_floor)
        kl = model.kl(Posterior(mu, posterior.log_var.detach()), power)
        return (itakura_saito(floored, log_variance) + kl_weight * kl).sum()

    return adam_descent(posterior.mu, objective, steps, model.config.refine_lr)


def score_file(job: tuple[str, int, float, float | None, str]) -> dict:
    """PESQ-WB, STOI, Hoyer and active coefficients of one file's resynthesis with one model and setting."""
    import torch

    import sdmresynth.api as sdm
    from sdmresynth.dsp.metrics import active_coefficients, hoyer, quality_metrics
    from sdmresynth.dsp.stft import power_spectrogram, stft

    name, steps, kl_weight, floor_db, path = job
    torch.set_num_threads(1)
    loaded = _model(name, 0 if floor_db else steps, kl_weight)
    samples = sdm.read_audio(path).samples.astype(np.float64)
    reference = samples / max(np.abs(samples).max(), 1e-12)
    power = torch.from_numpy(power_spectrogram(stft(reference)))
    with torch.no_grad():
        if floor_db and steps:
            codes = floored_optimum(loaded.model, power, steps, kl_weight, floor_db).numpy()
        else:
            codes = loaded.model.codes(power).numpy()
    estimate = sdm.decode_codes(loaded, codes, len(reference), phase_from=reference)
    scores = quality_metrics(reference, estimate)
    return {"pesq_wb": scores["pesq_wb"], "stoi": scores["stoi"], "hoyer": float(hoyer(codes).mean()),
            "active": float(active_coefficients(codes).mean())}


def measure(models: list[str], kl_weights: list[float], steps: int, files: list[str], workers: int,
            floor_db: float | None = None) -> list[dict]:
    """One row per model and setting: the one-pass code, then the per-frame optimum at each KL weight."""
    settings = [(0, 1.0)] + [(steps, weight) for weight in kl_weights]
    jobs = [(model, s, w, floor_db, f) for model in models for s, w in settings for f in files]
    with ProcessPoolExecutor(workers) as pool:
        scores = list(pool.map(score_file, jobs, chunksize=1))
    rows = []
    for index, (model, s, w) in enumerate((m, s, w) for m in models for s, w in settings):
        mine = scores[index * len(files): (index + 1) * len(files)]
        setting = "one pass" if s == 0 else f"optimum, KL x {w:g} ({s} steps)" + (
            f", divergence floored {floor_db:g} dB below the peak" if floor_db else "")
        rows.append({"model": model, "code": setting} | {k: float(np.mean([r[k] for r in mine])) for k in METRICS})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | code | PESQ-WB | STOI | Hoyer | active |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['code']} | {r['pesq_wb']:.3f} | {r['stoi']:.3f} | {r['hoyer']:.3f} | "
              f"{r['active']:.1f} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="shipped name or checkpoint (repeatable; default: sdm-vae)")
    parser.add_argument("--kl-weights", default="1,1.5,2,3", help="comma-separated KL weights of the optimum")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per frame for the optimum")
    parser.add_argument("--floor-db", type=float,
                        help="floor the optimum's divergence this far below each frame's peak")
    parser.add_argument("--list", type=Path, default=VAL_LIST,
                        help="files to score (a split list or folder; the repository's clips when it is missing)")
    parser.add_argument("--quick", action="store_true", help="2 files, 20 steps: checks the script runs")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    from sdmresynth.io.corpus import files_from

    found = files_from(args.list) if args.list.exists() else FALLBACK_CLIPS
    files = [str(f) for f in found][: 2 if args.quick else None]
    weights = [float(w) for w in args.kl_weights.split(",")]
    rows = measure(args.model or ["sdm-vae"], weights, 20 if args.quick else args.steps, files, args.workers,
                   args.floor_db)
    print(f"{len(files)} files of {args.list if args.list.exists() else 'the repository'}; {machine()}")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
