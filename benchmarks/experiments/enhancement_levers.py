"""The model levers of `enhance`, one at a time, on the validation mixtures of the leave-one-category-out protocol.

Each lever is a variant of the shipped setting (a speech prior and EnhanceConfig fields); every variant enhances the
same mixtures (enhancement_loco's: the validation split x -5 / 0 / +5 dB, the eight noise categories in turn, babble
included). A variant may also start the EM a fraction of the way from the encoder's codes of the noisy frames to
those of the clean speech (`"clean_start": 1.0`: all the way; a diagnostic of how much the start decides, not a
method). The table shows each variant's gains per category and its mean gain over the shipped setting, paired over
mixtures (+- 1.96 standard errors); a lever with a setting to choose is compared under the protocol by
`enhancement_loco` once it wins here.

    python -m benchmarks.experiments.enhancement_levers --variant smoother '{"code_smoothness": 8}' [--rows F]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from ..common import machine
from .enhancement_loco import VAL_LIST, _key, cases, gains, noisy_mixture

SHIPPED = "shipped"


def score_variants(case: dict, variants: dict[str, dict]) -> list[dict]:
    """Every variant on one mixture: a row each with the gains over the noisy input."""
    import torch

    from sdmresynth.dsp.divergence import POWER_FLOOR
    from sdmresynth.dsp.metrics import quality_metrics
    from sdmresynth.dsp.stft import istft, power_spectrogram, stft
    from sdmresynth.inference.enhance import EnhanceConfig, enhance_spectrogram
    from sdmresynth.inference.model import cached_model
    from sdmresynth.io.shipped import ENHANCE_PRIOR

    speech, noisy = noisy_mixture(case)
    reference = quality_metrics(speech, noisy)
    spec, rows = stft(noisy), []
    for name, fields in variants.items():
        fields = dict(fields)
        model = cached_model(fields.pop("prior", ENHANCE_PRIOR)).model
        start, toward_clean = None, fields.pop("clean_start", 0.0)
        if toward_clean:  # a diagnostic, not a method: the start moved toward the codes of the clean speech
            with torch.no_grad():
                noisy_codes, clean_codes = (model.codes(torch.from_numpy(power_spectrogram(s) + POWER_FLOOR))
                                            for s in (spec, stft(speech)))
            start = (noisy_codes + toward_clean * (clean_codes - noisy_codes)).numpy()
        estimate = enhance_spectrogram(model, spec, EnhanceConfig(**fields), start).speech
        rows.append(case | {"variant": name} | gains(speech, istft(estimate, len(noisy)), reference))
    return rows


def _scored(mixtures: list[dict], variants: dict[str, dict], kept: Path | None, workers: int) -> list[dict]:
    """The rows of every mixture and variant: those `kept` holds already, the others scored now (and kept)."""
    from sdmresynth.workers import worker_pool

    done: dict[tuple[str, str], dict] = {}
    if kept and kept.is_file():
        for line in kept.read_text().splitlines():
            row = json.loads(line)
            done[(_key(row), row["variant"])] = row
    todo = [m for m in mixtures if any((_key(m), v) not in done for v in variants)]
    missing = [{v: f for v, f in variants.items() if (_key(m), v) not in done} for m in todo]
    with worker_pool(workers) as pool:
        for rows in pool.map(score_variants, todo, missing):
            for row in rows:
                done[(_key(row), row["variant"])] = row
                if kept:
                    with open(kept, "a") as handle:
                        handle.write(json.dumps(row) + "\n")
    return [done[(_key(m), v)] for m in mixtures for v in variants]


def paired_gain(rows: list[dict], variant: str, metric: str = "si_sdr_gain") -> tuple[float, float]:
    """The variant's mean gain over the shipped setting on the same mixtures, and 1.96 standard errors."""
    shipped = {_key(r): r[metric] for r in rows if r["variant"] == SHIPPED}
    differences = np.array([r[metric] - shipped[_key(r)] for r in rows if r["variant"] == variant])
    spread = 1.96 * differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else float("nan")
    return float(differences.mean()), float(spread)


def markdown(rows: list[dict], variants: dict[str, dict]) -> list[str]:
    names = sorted({r["category"] for r in rows})
    lines = ["| variant | " + " | ".join(names) + " | mean SI-SDR gain (dB) | vs shipped, SI-SDR | vs shipped, "
             "PESQ-WB | vs shipped, ESTOI |", "| --- " * (len(names) + 5) + "|"]
    for variant, fields in variants.items():
        mine = [r for r in rows if r["variant"] == variant]
        cells = [f"{np.mean([r['si_sdr_gain'] for r in mine if r['category'] == c]):+.2f}" for c in names]
        paired = [paired_gain(rows, variant, m) for m in ("si_sdr_gain", "pesq_wb_gain", "estoi_gain")]
        lines.append(f"| {variant} `{json.dumps(fields)}` | " + " | ".join(cells)
                     + f" | {np.mean([r['si_sdr_gain'] for r in mine]):+.2f} | "
                     + " | ".join(f"{d:+.3f} +- {s:.3f}" for d, s in paired) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs=2, action="append", default=[], metavar=("NAME", "FIELDS"),
                        help="a variant: its name and a JSON object of EnhanceConfig fields, \"prior\" and "
                        "\"clean_start\" (0-1)")
    parser.add_argument("--every", type=int, default=1, help="use every N-th file of the validation split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="3 files: for CI")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=Path, help="keep every row in this JSON-lines file; a rerun scores only what "
                        "it lacks")
    args = parser.parse_args()
    variants = {SHIPPED: {}} | {name: json.loads(fields) for name, fields in args.variant}
    mixtures = cases(VAL_LIST, args.every, args.seed, args.quick)
    rows = _scored(mixtures, variants, args.rows, args.workers)
    if args.json:
        print(json.dumps({"benchmark": "enhancement_levers", "machine": machine(), "variants": variants,
                          "paired_si_sdr": {v: paired_gain(rows, v) for v in variants}}))
    else:
        print("\n".join(markdown(rows, variants)))


if __name__ == "__main__":
    main()
