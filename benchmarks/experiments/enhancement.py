"""Unsupervised speech enhancement: `sdmresynth enhance` with each speech prior against spectral gating and the
oracle Wiener filter, on seeded mixtures of test-split speech with the real noise in ../shared/data/noise.

Every method sees the same mixtures: each (file, SNR) pair gets a noise recording (categories in turn, so each kind of
noise is used equally), a seeded random segment of it (looped when shorter than the speech) and a gain that sets the
input SNR over the whole file. Scores against the clean speech: SI-SDR, PESQ-WB, ESTOI; the real-time factor is the
enhancement time over the audio's duration, one thread per worker.

    python -m benchmarks.experiments.enhancement --doc docs/enhancement.md        # about 20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from pathlib import Path

import numpy as np

from ..common import ROOT, SHARED, TEST_LIST, machine

NOISE_DIR = SHARED / "noise"
SNRS = (-5.0, 0.0, 5.0)
MODELS = ("vae-l64", "vae-l64-enhance", "sdm-vae", "sdm-vae-dct-l64-k256", "sdm-vae-identity-l64",
          "sdm-vae-learned-l64-k256")
METRICS = ("si_sdr", "pesq_wb", "estoi")


def noise_recordings() -> list[Path]:
    """The noise files, one category after another (clock-tick_1, exercise-bike_1, ..., clock-tick_2, ...)."""
    by_category: dict[str, list[Path]] = {}
    for path in sorted(NOISE_DIR.glob("*.wav")):
        by_category.setdefault(path.stem.rsplit("_", 1)[0], []).append(path)
    order, depth = [], max(len(files) for files in by_category.values())
    for i in range(depth):
        order += [files[i % len(files)] for files in by_category.values()]
    return order


def mixture(speech: np.ndarray, noise: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    """speech + a random segment of noise (looped if short) scaled to snr dB over the file."""
    if len(noise) < len(speech) + 1:
        noise = np.tile(noise, len(speech) // len(noise) + 2)
    start = int(rng.integers(0, len(noise) - len(speech)))
    segment = noise[start : start + len(speech)].astype(np.float64)
    gain = np.sqrt(np.sum(speech**2) / max(np.sum(segment**2), 1e-20) / 10 ** (snr / 10))
    return speech + gain * segment


def score_case(speech_path: str, noise_path: str, snr: float, seed: int, keep: str | None,
               models: tuple[str, ...]) -> list[dict]:
    """Every method on one mixture: a row per method with the metrics and the seconds it took."""
    import noisereduce

    import sdmresynth.api as sdm
    from sdmresynth.dsp.metrics import quality_metrics
    from sdmresynth.dsp.stft import istft, stft
    from sdmresynth.inference.model import cached_model

    speech = sdm.read_audio(speech_path).samples.astype(np.float64)
    rng = np.random.default_rng([seed, int(snr * 10) + 100, zlib.crc32(Path(speech_path).name.encode())])
    noisy = mixture(speech, sdm.read_audio(noise_path).samples, snr, rng)
    level = np.abs(noisy).max()  # every method sees the mixture at full scale, as a file would be
    speech, noisy = speech / level, noisy / level
    outputs: dict[str, tuple[np.ndarray, float]] = {"noisy input": (noisy, 0.0)}
    started = time.perf_counter()
    gated = noisereduce.reduce_noise(y=noisy, sr=16000)
    outputs["spectral gating (noisereduce)"] = (gated, time.perf_counter() - started)
    clean_power = np.abs(stft(speech)) ** 2
    noise_power = np.abs(stft(noisy - speech)) ** 2
    oracle = clean_power / np.maximum(clean_power + noise_power, 1e-20) * stft(noisy)
    outputs["oracle Wiener (upper bound)"] = (istft(oracle, len(noisy)), 0.0)
    for name in models:
        loaded = cached_model(name)
        started = time.perf_counter()
        enhanced = sdm.enhance(loaded, noisy)
        outputs[f"enhance {name}"] = (enhanced, time.perf_counter() - started)
    rows = []
    for method, (estimate, seconds) in outputs.items():
        scores = quality_metrics(speech, estimate)
        rows.append({"method": method, "file": Path(speech_path).name, "noise": Path(noise_path).stem, "snr": snr,
                     "rtf": seconds / (len(noisy) / 16000), **{m: scores[m] for m in METRICS}})
    if keep:
        np.savez_compressed(keep, clean=speech, noisy=noisy, **{r["method"]: outputs[r["method"]][0] for r in rows})
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean of each metric per method and SNR, and over all SNRs; improvements over the noisy input."""
    table = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        entry = {"method": method, "files": len({(r["file"], r["snr"]) for r in mine}) // len(SNRS)}
        for snr in (*SNRS, None):
            picked = [r for r in mine if snr is None or r["snr"] == snr]
            inputs = [r for r in rows if r["method"] == "noisy input" and (snr is None or r["snr"] == snr)]
            tag = "all" if snr is None else f"{snr:+g}"
            for metric in METRICS:
                entry[f"{metric} {tag}"] = float(np.mean([r[metric] for r in picked]))
                entry[f"{metric} gain {tag}"] = entry[f"{metric} {tag}"] - float(np.mean([r[metric] for r in inputs]))
        entry["rtf"] = float(np.mean([r["rtf"] for r in mine]))
        table.append(entry)
    return table


def markdown(table: list[dict]) -> list[str]:
    """The results as markdown tables: averages over the SNRs, then each SNR."""
    lines = ["| method | SI-SDR gain (dB) | PESQ-WB gain | ESTOI gain | SI-SDR | PESQ-WB | ESTOI | real-time factor |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in table:
        lines.append(f"| {e['method']} | {e['si_sdr gain all']:+.2f} | {e['pesq_wb gain all']:+.3f} | "
                     f"{e['estoi gain all']:+.3f} | {e['si_sdr all']:.2f} | {e['pesq_wb all']:.3f} | "
                     f"{e['estoi all']:.3f} | {e['rtf']:.3f} |")
    lines += ["", "Per input SNR (SI-SDR dB / PESQ-WB / ESTOI):", "",
              "| method | " + " | ".join(f"{s:+g} dB" for s in SNRS) + " |", "| --- |" + " --- |" * len(SNRS)]
    for e in table:
        cells = [f"{e[f'si_sdr {s:+g}']:.2f} / {e[f'pesq_wb {s:+g}']:.2f} / {e[f'estoi {s:+g}']:.3f}" for s in SNRS]
        lines.append(f"| {e['method']} | " + " | ".join(cells) + " |")
    return lines


def by_noise(rows: list[dict]) -> list[str]:
    """SI-SDR gain per noise category for each method: where each one helps and where it does not."""
    categories = sorted({r["noise"].rsplit("_", 1)[0] for r in rows})
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != "noisy input"]
    inputs = {(r["file"], r["snr"], r["noise"]): r["si_sdr"] for r in rows if r["method"] == "noisy input"}
    lines = ["| method | " + " | ".join(categories) + " |", "| --- |" + " --- |" * len(categories)]
    for method in methods:
        cells = []
        for category in categories:
            gains = [r["si_sdr"] - inputs[(r["file"], r["snr"], r["noise"])] for r in rows
                     if r["method"] == method and r["noise"].rsplit("_", 1)[0] == category]
            cells.append(f"{np.mean(gains):+.1f}" if gains else "-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def plot_example(kept: Path, methods: list[str], target: Path) -> None:
    """Spectrograms of one mixture: noisy, each chosen method's output, clean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdmresynth.dsp.stft import stft

    signals = np.load(kept)
    panels = ["noisy", *methods, "clean"]
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 2.1 * len(panels)), sharex=True)
    for axis, name in zip(axes, panels):
        power = np.abs(stft(signals[name])) ** 2
        axis.imshow(10 * np.log10(power.T + 1e-10), origin="lower", aspect="auto", vmin=-60, vmax=30, cmap="magma",
                    extent=(0, len(signals[name]) / 16000, 0, 8))
        axis.set_ylabel("kHz")
        axis.set_title(name, fontsize=9)
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(target, dpi=80)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10, help="score every N-th test-split file (default 10)")
    parser.add_argument("--model", action="append", help=f"speech priors (default: {', '.join(MODELS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--doc", type=Path, help="write the results page, e.g. docs/enhancement.md")
    parser.add_argument("--rows", type=Path, help="also write every row to this JSON file")
    parser.add_argument("--quick", action="store_true", help="2 files, one prior: for CI, numbers not meaningful")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from sdmresynth.io.corpus import read_list
    from sdmresynth.workers import worker_pool

    started = time.perf_counter()
    models = tuple(args.model or (MODELS[:1] if args.quick else MODELS))
    files = read_list(TEST_LIST)[:: args.every][: 2 if args.quick else None]
    noises = noise_recordings()
    example = (str(files[0]), 0.0)
    keep_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"enhancement-example-{os.getpid()}.npz"
    cases = [(str(f), str(noises[(i * len(SNRS) + j) % len(noises)]), snr, args.seed,
              str(keep_path) if (str(f), snr) == example else None)
             for i, f in enumerate(files) for j, snr in enumerate(SNRS)]
    with worker_pool(args.workers) as pool:
        rows = [row for result in pool.map(score_case, *zip(*cases), [models] * len(cases)) for row in result]
    if args.rows:
        args.rows.write_text(json.dumps(rows))
    table = summarise(rows)
    if args.json:
        print(json.dumps({"benchmark": "enhancement", "machine": machine(), "rows": table}))
    else:
        print("\n".join(markdown(table)))
    if args.doc:
        picture = args.doc.with_name("enhancement-example.png")
        plot_example(keep_path, ["spectral gating (noisereduce)", *(f"enhance {m}" for m in models[:2])], picture)
        command = "python -m benchmarks.experiments.enhancement " + " ".join(
            [f"--model {m}" for m in args.model or []] + [f"--every {args.every}", "--doc", str(args.doc)])
        write_doc(args.doc, table, rows, command, (time.perf_counter() - started) / 60, picture.name, len(files))
    keep_path.unlink(missing_ok=True)


def write_doc(path: Path, table: list[dict], rows: list[dict], command: str, minutes: float, picture: str,
              files: int) -> None:
    """The generated part of docs/enhancement.md; the hand-written text after the marker is kept."""
    from sdmresynth.inference.enhance import EnhanceConfig

    marker = "<!-- discussion below is written by hand and kept when the page is regenerated -->"
    kept = path.read_text().split(marker, 1)[1] if path.exists() and marker in path.read_text() else "\n"
    defaults = EnhanceConfig()
    lines = ["# Speech enhancement with a learned speech prior", "",
             f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} ({machine()}; {minutes:.0f} minutes).", "",
             f"{files} test-split files x input SNRs {', '.join(f'{s:+g}' for s in SNRS)} dB, each mixed with a "
             "real noise recording from `../shared/data/noise` (categories in turn, seeded segment). Gains are over "
             "the noisy input, averaged over the three SNRs; the real-time factor is on one CPU thread. "
             f"`enhance` runs with its defaults (rank-{defaults.noise_rank} noise NMF, {defaults.iterations} EM "
             f"iterations, {defaults.code_steps} code steps each, temporal prior {defaults.code_smoothness:g}, Wiener "
             f"exponent {defaults.wiener_exponent:g}).", "",
             *markdown(table), "", "SI-SDR gain (dB) by noise category, all SNRs:", "", *by_noise(rows), "",
             f"![noisy, enhanced and clean spectrograms]({picture})", "", marker]
    path.write_text("\n".join(lines) + kept)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
