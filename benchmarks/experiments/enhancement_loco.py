"""`enhance` on noise nobody tuned on: every setting chosen by leave-one-category-out over the noise categories.

The categories are those of ../shared/data/noise plus babble (3-5 talkers of the LibriSpeech training split, never a
validation or test speaker, summed at equal level). Each (file, SNR) pair of the validation and the test split gets a
category in turn and a seeded segment of one of its recordings. For each category c, the setting (speech prior and EM
settings, from a grid) with the best mean SI-SDR gain on the validation mixtures of the *other* categories enhances
the test mixtures of c: the test table never benefits from tuning on the noise it is scored on, and a test mixture
is enhanced only with the setting chosen without its category. The setting that the validation mixtures of every
category prefer is the one to ship. The Wiener exponent acts after the EM, so each EM runs once per (prior, rank,
temporal prior) and serves every exponent.

    python -m benchmarks.experiments.enhancement_loco [--every N] [--val-every N] [--quick] [--json] [--rows F]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import zlib
from pathlib import Path

import numpy as np

from ..common import SHARED, machine
from .enhancement import NOISE_DIR, SNRS, mixture

VAL_LIST, TEST_LIST, TRAIN_LIST = (SHARED / "splits" / f"{name}.txt" for name in ("val", "test", "train"))
GRID = {"prior": ("sdm-vae-identity-l64", "vae-l64-enhance", "vae-l64"), "noise_rank": (8, 16),
        "code_smoothness": (0.0, 2.0, 8.0), "wiener_exponent": (1.0, 1.5, 2.0)}
BABBLE = "babble"


def categories() -> dict[str, list[Path]]:
    """The noise recordings by category, and babble (made per mixture)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(NOISE_DIR.glob("*.wav")):
        found.setdefault(path.stem.rsplit("_", 1)[0], []).append(path)
    return found | {BABBLE: []}


def babble(length: int, rng: np.random.Generator, talkers: list[Path]) -> np.ndarray:
    """3-5 training talkers, each looped to `length` from a random start and scaled to unit RMS, summed."""
    from sdmresynth.io.audio import read_audio

    total = np.zeros(length)
    for path in rng.choice(talkers, size=int(rng.integers(3, 6)), replace=False):
        speech = read_audio(path).samples.astype(np.float64)
        looped = np.tile(speech, length // len(speech) + 2)
        start = int(rng.integers(0, len(speech)))
        segment = looped[start:start + length]
        total += segment / max(np.sqrt(np.mean(segment**2)), 1e-12)
    return total


def cases(split: Path, every: int, seed: int, quick: bool) -> list[dict]:
    """The mixtures of a split: each (file, SNR) pair with a category in turn and a seed."""
    from sdmresynth.io.corpus import read_list

    files = read_list(split)[::every][: 3 if quick else None]
    names = list(categories())
    return [{"file": str(f), "snr": snr, "category": names[(i * len(SNRS) + j) % len(names)],
             "seed": [seed, j, zlib.crc32(f.name.encode())]} for i, f in enumerate(files) for j, snr in enumerate(SNRS)]


def noisy_mixture(case: dict) -> tuple[np.ndarray, np.ndarray]:
    """(clean speech, the mixture), both scaled so that the mixture peaks at full scale, as a file would."""
    from sdmresynth.io.audio import read_audio
    from sdmresynth.io.corpus import read_list

    speech = read_audio(case["file"]).samples.astype(np.float64)
    rng = np.random.default_rng(case["seed"])
    if case["category"] == BABBLE:
        noise = babble(len(speech), rng, read_list(TRAIN_LIST))
    else:
        recordings = categories()[case["category"]]
        noise = read_audio(recordings[int(rng.integers(len(recordings)))]).samples
    noisy = mixture(speech, noise, case["snr"], rng)
    level = np.abs(noisy).max()
    return speech / level, noisy / level


def score_case(case: dict, grid: dict) -> list[dict]:
    """Every setting of the grid on one mixture: a row each with the gains over the noisy input."""
    from sdmresynth.dsp.metrics import quality_metrics
    from sdmresynth.dsp.stft import istft, stft
    from sdmresynth.inference.enhance import EnhanceConfig, enhance_spectrogram
    from sdmresynth.inference.model import cached_model

    speech, noisy = noisy_mixture(case)
    reference = quality_metrics(speech, noisy)
    spec, rows = stft(noisy), []
    for prior, rank, smoothness in _em_settings(grid):
        config = EnhanceConfig(noise_rank=rank, code_smoothness=smoothness, wiener_exponent=1.0)
        result = enhance_spectrogram(cached_model(prior).model, spec, config)
        wiener = result.speech_variance / (result.speech_variance + result.noise_variance)
        for exponent in grid["wiener_exponent"]:
            rows.append(case | {"setting": _setting(prior, rank, smoothness, exponent)}
                        | gains(speech, istft(wiener**exponent * spec, len(noisy)), reference))
    return rows


def gains(speech: np.ndarray, enhanced: np.ndarray, reference: dict[str, float]) -> dict[str, float]:
    """The enhanced signal's gains over the noisy input (reference: the noisy input's quality_metrics), as the
    rows keep them: si_sdr_gain, pesq_wb_gain, estoi_gain."""
    from sdmresynth.dsp.metrics import quality_metrics

    scores = quality_metrics(speech, enhanced)
    return {f"{m}_gain": scores[m] - reference[m] for m in ("si_sdr", "pesq_wb", "estoi")}


def _mean_by(rows: list[dict], key: str, metric: str = "si_sdr_gain") -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row[metric])
    return {name: float(np.mean(values)) for name, values in groups.items()}


GAINS = ("si_sdr_gain", "pesq_wb_gain", "estoi_gain")


def _mean_gains(rows: list[dict]) -> dict[str, float]:
    return {m: float(np.mean([r[m] for r in rows])) for m in GAINS}


def _gain_cells(gains: dict[str, float]) -> str:
    return f"{gains['si_sdr_gain']:+.2f} | {gains['pesq_wb_gain']:+.3f} | {gains['estoi_gain']:+.3f} |"


def choices(validation: list[dict], held: list[str]) -> dict[str, str]:
    """For each held-out category, the setting with the best mean SI-SDR gain on the other categories' validation
    mixtures."""
    chosen = {}
    for category in held:
        scores = _mean_by([r for r in validation if r["category"] != category], "setting")
        chosen[category] = max(scores, key=scores.get)
    return chosen


def narrowed(grid: dict, setting: str) -> dict:
    """The grid cut to one setting's EM (prior, rank, temporal prior), every exponent kept: they come free."""
    fields = json.loads(setting)
    return _one_em(grid, fields["prior"], fields["noise_rank"], fields["code_smoothness"])


def leave_one_out(validation: list[dict], test: list[dict],
                  chosen: dict[str, str]) -> tuple[list[dict], list[dict], str]:
    """Per category: the setting chosen without it (`choices`) and its test gains; the test rows each enhanced with
    the setting chosen without its category; and the setting every category's validation mixtures prefer (the one
    to ship)."""
    table, held_out = [], []
    for category, setting in chosen.items():
        scored = [r for r in test if r["category"] == category and r["setting"] == setting]
        held_out += scored
        table.append({"category": category, "setting": setting, "mixtures": len(scored),
                      **_mean_gains(scored)})
    overall = _mean_by(validation, "setting")
    return table, held_out, max(overall, key=overall.get)


def markdown(table: list[dict], held_out: list[dict], shipped: str) -> list[str]:
    lines = ["| held-out category | setting chosen without it | mixtures | SI-SDR gain (dB) | PESQ-WB gain | "
             "ESTOI gain |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['category']} | `{r['setting']}` | {r['mixtures']} | {_gain_cells(r)}" for r in table]
    lines += [f"| mean over categories | | | {_gain_cells(_mean_gains(table))}", "", "Each test mixture enhanced with the setting chosen without its "
              "category, by input SNR:", "", "| input SNR (dB) | mixtures | SI-SDR gain (dB) | PESQ-WB gain | "
              "ESTOI gain |", "| --- | --- | --- | --- | --- |"]
    for snr in sorted({r["snr"] for r in held_out}) + [None]:
        rows = [r for r in held_out if snr is None or r["snr"] == snr]
        lines.append(f"| {'all' if snr is None else f'{snr:+g}'} | {len(rows)} | {_gain_cells(_mean_gains(rows))}")
    return lines + ["", f"The setting every category's validation mixtures prefer: `{shipped}`"]


def _key(case: dict) -> str:
    return f"{case['file']}|{case['snr']}|{case['category']}"


def _em_settings(grid: dict) -> list[tuple]:
    """What each EM of the grid runs with: (prior, noise rank, temporal prior); the exponents act after it."""
    return list(itertools.product(grid["prior"], grid["noise_rank"], grid["code_smoothness"]))


def _one_em(grid: dict, prior: str, rank: int, smoothness: float) -> dict:
    """The grid of one EM setting, with every exponent of `grid`."""
    return {"prior": (prior,), "noise_rank": (rank,), "code_smoothness": (smoothness,),
            "wiener_exponent": grid["wiener_exponent"]}


def _ems(grid: dict) -> list[dict]:
    """The grid as one single-EM grid per EM setting, every exponent in each."""
    return [_one_em(grid, *em) for em in _em_settings(grid)]


def _setting(prior: str, rank: int, smoothness: float, exponent: float) -> str:
    """A setting as the rows name it."""
    return json.dumps({"prior": prior, "noise_rank": rank, "code_smoothness": smoothness, "wiener_exponent": exponent})


def _settings(grid: dict) -> list[str]:
    """The settings of a grid, as the rows name them."""
    return [_setting(*em, exponent) for em in _em_settings(grid) for exponent in grid["wiener_exponent"]]


def _scored(split: str, mixtures: list[dict], grids: list[dict], kept: Path | None, workers: int) -> list[dict]:
    """The rows of every mixture of a split, each for the settings of its grid: those `kept` holds already, and the
    others scored now (and kept). A grid that grows (another prior, say) costs only the EMs the kept rows lack."""
    from sdmresynth.workers import worker_pool

    done: dict[str, dict[str, dict]] = {}  # mixture -> setting -> row
    if kept and kept.is_file():
        for line in kept.read_text().splitlines():
            entry = json.loads(line)
            if entry["split"] == split:
                done.setdefault(entry["key"], {}).update({row["setting"]: row for row in entry["rows"]})
    todo = []  # (mixture, grid): a new mixture's whole grid as one job, else the EMs it lacks
    for case, grid in zip(mixtures, grids):
        have = done.get(_key(case), {})
        missing = [em for em in _ems(grid) if any(s not in have for s in _settings(em))]
        todo += [(case, grid)] if not have else [(case, em) for em in missing]
    with worker_pool(workers) as pool:
        for (case, _), result in zip(todo, pool.map(score_case, *zip(*todo))):
            done.setdefault(_key(case), {}).update({row["setting"]: row for row in result})
            if kept:
                with open(kept, "a") as handle:
                    handle.write(json.dumps({"split": split, "key": _key(case), "rows": result}) + "\n")
    return [done[_key(m)][s] for m, grid in zip(mixtures, grids) for s in _settings(grid)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="use every N-th file of each split")
    parser.add_argument("--val-every", type=int, help="use every N-th file of the validation split (default: --every)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="3 files a split, a grid of two: for CI")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=Path, help="keep every mixture's rows in this JSON-lines file as they come; a "
                        "rerun with it scores only what it lacks (new mixtures, or the settings a grown GRID adds)")
    args = parser.parse_args()
    grid = GRID if not args.quick else {k: v[:1] for k, v in GRID.items()} | {"wiener_exponent": (1.0, 1.5)}
    every = {"val": args.val_every or args.every, "test": args.every}
    splits = {name: cases(path, every[name], args.seed, args.quick) for name, path in (("val", VAL_LIST),
                                                                                        ("test", TEST_LIST))}
    validation = _scored("val", splits["val"], [grid] * len(splits["val"]), args.rows, args.workers)
    chosen = choices(validation, sorted({m["category"] for m in splits["test"]}))
    test = _scored("test", splits["test"], [narrowed(grid, chosen[m["category"]]) for m in splits["test"]], args.rows,
                   args.workers)
    table, held_out, shipped = leave_one_out(validation, test, chosen)
    if args.json:
        print(json.dumps({"benchmark": "enhancement_loco", "machine": machine(), "rows": table, "shipped": shipped}))
    else:
        print("\n".join(markdown(table, held_out, shipped)))


if __name__ == "__main__":
    main()
