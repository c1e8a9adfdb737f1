"""Fidelity, sparsity, code size and encoding speed of sdmresynth models beside the classical alternatives, on
unseen speakers of three corpora, in one run.

Baselines, fitted on the default model's training lists (LibriSpeech train split + speechocean762 train, ends
trimmed as in training): PCA-L of the standardised log power (L = 16, 64), IS-NMF with K atoms (K = 64, 256; atoms
learned by 200 multiplicative updates on 40,000 random training frames, activations by 100 updates per file with
the atoms fixed) and the WORLD vocoder (pyworld defaults). Every code is decoded to a power spectrum and
resynthesised with the input's phase, like the models; everything is scored against the peak-normalised 16 kHz
input. Encoding speed: frames per second of one thread, from the power spectrogram to the code.

    pip install -e ".[bench,plot]"
    python -m benchmarks.experiments.quality_vs_baselines [--model NAME ...] [--front] [--workers N] [--doc docs/quality.md]

--front also scores every shipped model on the test split, for the picture of PESQ-WB against Hoyer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
from ..common import SHARED, machine

SETS = {
    "librispeech-test": SHARED / "splits" / "test.txt",
    "speech-commands": SHARED / "speech_commands",
    "speechocean762-val": SHARED / "splits" / "speechocean762-val.txt",
}
TRAIN_LISTS = [SHARED / "splits" / "train.txt", SHARED / "splits" / "speechocean762-train.txt"]
METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "hoyer", "active")  # active: coefficients above 1 % of the largest
PAIRED = ("pesq_wb", "stoi", "hoyer", "active")  # the default against IS-NMF-256, file by file
PCA_SIZES, NMF_SIZES = (16, 64), (64, 256)
NMF_TRAIN_FRAMES = 40_000
NMF_TOLERANCE, NMF_MAX_UPDATES = 1e-3, 5000  # IS-NMF trains until 50 updates lower its divergence by < 0.1 %
ONE_PASS = " (one pass)"  # a refined model's row with the refinement off: its encoder alone
DOC_MARK = "<!-- levers: kept when the page is regenerated -->"
_CODECS: dict = {}  # the baselines each worker has loaded


def fit_baselines(quick: bool) -> Path:
    """Fit PCA and IS-NMF on the training frames and save them (an .npz the workers read) in the frame store's
    folder, keyed by the training files' contents and these settings, so that a second run reuses them (also after the
    data is copied afresh, which changes the files' times and so the frame store's key); return its path."""
    from sdmresynth.evaluation.baselines import fit_pca
    from sdmresynth.io.corpus import read_list
    from sdmresynth.training.features import TRIM_TOP_DB
    from sdmresynth.training.framestore.store import default_cache_dir
    from sdmresynth.training.sets import load_frames
    from sdmresynth.dsp.stft import StftConfig
    from sdmresynth.models.checkpoint import file_sha256

    files = [f for lst in TRAIN_LISTS for f in read_list(lst)][: 6 if quick else None]
    digest = hashlib.sha256(json.dumps({"stft": asdict(StftConfig()), "top_db": TRIM_TOP_DB}).encode())
    for path in files:
        digest.update(file_sha256(path).encode())
    key = digest.hexdigest()[:16]
    path = default_cache_dir() / f"baselines-{key}-pca{'-'.join(map(str, PCA_SIZES))}-nmf{'-'.join(map(str, NMF_SIZES))}-tol{NMF_TOLERANCE:g}{'-quick' if quick else ''}.npz"
    if path.is_file():
        return path
    frames = load_frames(files, StftConfig(), default_cache_dir()).frames
    saved = {}
    for size in PCA_SIZES:
        pca = fit_pca(frames, size)
        saved |= {f"pca{size}_mean": pca.mean, f"pca{size}_std": pca.std, f"pca{size}_components": pca.components}
    rows = np.random.default_rng(0).choice(len(frames), min(NMF_TRAIN_FRAMES, len(frames)), replace=False)
    subset = np.take(frames, np.sort(rows), axis=0)
    partials = [path.with_suffix(f".nmf{size}.partial.npz") for size in NMF_SIZES]
    for size, partial in zip(NMF_SIZES, partials):
        started = time.perf_counter()
        saved[f"nmf{size}_atoms"] = _fit_resumably(subset, size, partial, quick)
        print(f"IS-NMF K = {size}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    np.savez(path, **saved)
    for partial in partials:  # kept until now: a finished fit resumes as finished if a later one is interrupted
        partial.unlink(missing_ok=True)
    return path


def _fit_resumably(frames: np.ndarray, size: int, partial: Path, quick: bool) -> np.ndarray:
    """IS-NMF atoms fitted to convergence (about 45 minutes for K = 256 on one core), the fit in progress saved at
    every check so that an interrupted benchmark goes on where it stopped."""
    from sdmresynth.io.atomic import write_atomically
    from sdmresynth.dsp.nmf import NMFFit, fit_is_nmf

    resume = None
    if partial.is_file():
        saved = np.load(partial)
        resume = NMFFit(saved["w"], saved["h"], int(saved["updates"]), [tuple(row) for row in saved["history"].tolist()])

    def save(fit: NMFFit) -> None:
        print(f"IS-NMF K = {size}: {fit.updates} updates, training divergence {fit.history[-1][1]:.2f}",
              file=sys.stderr, flush=True)

        def write(temp: str) -> None:
            with open(temp, "wb") as handle:
                np.savez(handle, w=fit.w, h=fit.h, updates=fit.updates, history=np.array(fit.history))

        write_atomically(partial, write)

    return fit_is_nmf(frames, size, 5 if quick else NMF_MAX_UPDATES, NMF_TOLERANCE, resume=resume, on_check=save).atoms


def _codec(system: str, baselines: str):
    """(encode, decode, code size) of a baseline system, loaded once per worker."""
    from sdmresynth.dsp.nmf import ISNMFCode
    from sdmresynth.evaluation.baselines import PCACode

    if system not in _CODECS:
        with np.load(baselines) as saved:
            if system.startswith("PCA"):
                size = int(system.split("-")[1])
                codec = PCACode(saved[f"pca{size}_mean"], saved[f"pca{size}_std"], saved[f"pca{size}_components"])
            else:
                size = int(system.split("-")[2])
                codec = ISNMFCode(saved[f"nmf{size}_atoms"])
        _CODECS[system] = codec
    return _CODECS[system]


def score_one(system: str, path: str, baselines: str) -> dict:
    """Resynthesise one file with one system (a baseline, or a model's name or checkpoint path); metrics, Hoyer,
    encoding seconds and frames, or the error."""
    import warnings

    import torch

    import sdmresynth.api as sdm
    from sdmresynth.dsp.metrics import active_coefficients, hoyer, quality_metrics
    from sdmresynth.dsp.stft import istft, power_spectrogram, stft, with_phase_of
    from sdmresynth.errors import UserError
    from sdmresynth.inference.model import cached_model

    row = {"system": system, "file": path}
    try:
        audio = sdm.read_audio(path)
        reference = audio.samples.astype(np.float64) / max(np.abs(audio.samples).max(), 1e-12)
        if system == "WORLD":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyworld imports pkg_resources, which warns
                import pyworld
            started = time.perf_counter()
            f0, envelope, aperiodicity = pyworld.wav2world(reference, 16000, frame_period=5.0)
            seconds = time.perf_counter() - started
            estimate = pyworld.synthesize(f0, envelope, aperiodicity, 16000, frame_period=5.0)
            estimate = np.resize(estimate, len(reference)) if len(estimate) < len(reference) else estimate[: len(reference)]
            codes = None
        else:
            spec = stft(reference)
            power = power_spectrogram(spec)
            if system.startswith(("PCA", "IS-NMF")):
                codec = _codec(system, baselines)
                started = time.perf_counter()
                codes = codec.encode(power)
                seconds = time.perf_counter() - started
                variance = codec.decode(codes)
                estimate = istft(with_phase_of(np.sqrt(variance.astype(np.float64)), spec), len(reference))
            else:
                one_pass = system.endswith(ONE_PASS)
                loaded = cached_model(system.removesuffix(ONE_PASS), refine_steps=0 if one_pass else None)
                row["system"] = loaded.name + (ONE_PASS if one_pass else "")
                started = time.perf_counter()  # the encoder alone, from the power spectrogram, as for the baselines
                with torch.no_grad():
                    codes = loaded.model.codes(torch.from_numpy(power)).numpy()
                seconds = time.perf_counter() - started
                estimate = sdm.decode_codes(loaded, codes, len(reference), phase_from=reference)
        row |= quality_metrics(reference, estimate)
        row |= {"hoyer": float(hoyer(codes).mean()) if codes is not None else math.nan,
                "active": float(active_coefficients(codes).mean()) if codes is not None else math.nan,
                "encode_seconds": seconds, "frames": len(reference) // 256}
    except (UserError, ValueError) as error:
        row["error"] = str(error)
    return row


def code_size(system: str, references: dict[str, str]) -> str:
    """Numbers per 16 ms frame that each system's code holds (references: a model's display name -> name or path)."""
    if system == "WORLD":
        return "1027 per 5 ms (F0, 513 envelope, 513 aperiodicity)"
    if system.startswith("PCA"):
        return system.split("-")[1]
    if system.startswith("IS-NMF"):
        return system.split("-")[2]
    from sdmresynth.inference.model import cached_model

    system = system.removesuffix(ONE_PASS)
    config = cached_model(references.get(system, system)).model.config
    return str(config.code_dim) if config.code_dim == config.latent_dim else f"{config.code_dim} (through L = {config.latent_dim})"


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for (set_name, system) in dict.fromkeys((r["set"], r["system"]) for r in rows):
        mine = [r for r in rows if r["set"] == set_name and r["system"] == system]
        good = [r for r in mine if "error" not in r]
        entry = {"set": set_name, "system": system, "files": len(good), "failed": len(mine) - len(good)}
        for metric in METRICS:
            values = [r[metric] for r in good if not math.isnan(r.get(metric, math.nan))]
            entry[metric] = float(np.mean(values)) if values else math.nan
        frames, seconds = sum(r["frames"] for r in good), sum(r["encode_seconds"] for r in good)
        entry["encode_frames_per_s"] = frames / seconds if seconds else math.nan
        table.append(entry)
    return table


def plot_front(table: list[dict], target: Path) -> None:
    from sdmresynth.evaluation.plots import require_matplotlib

    plt = require_matplotlib()
    figure, axis = plt.subplots(figsize=(8, 5.5))
    points = [r for r in table if r["set"] == "librispeech-test" and not math.isnan(r["hoyer"])]
    for row in points:
        family = ("PCA" if row["system"].startswith("PCA") else "IS-NMF" if row["system"].startswith("IS-NMF")
                  else "VSC" if row["system"].startswith("vsc") else "VAE" if row["system"].startswith("vae")
                  else "SDM-VAE")
        marker = {"PCA": "s", "IS-NMF": "^", "VSC": "v", "VAE": "D", "SDM-VAE": "o"}[family]
        color = {"PCA": "tab:gray", "IS-NMF": "tab:green", "VSC": "tab:purple", "VAE": "tab:orange",
                 "SDM-VAE": "tab:blue"}[family]
        axis.scatter(row["hoyer"], row["pesq_wb"], marker=marker, color=color, s=40,
                     label=family if family not in axis.get_legend_handles_labels()[1] else None)
        axis.annotate(row["system"], (row["hoyer"], row["pesq_wb"]), fontsize=6, xytext=(3, 2),
                      textcoords="offset points")
    world = [r for r in table if r["set"] == "librispeech-test" and r["system"] == "WORLD"]
    if world:
        axis.axhline(world[0]["pesq_wb"], color="tab:red", linestyle=":", label="WORLD (no code sparsity)")
    _finish(plt, figure, axis, target, "Hoyer sparsity of the code (higher: sparser)",
            "Sparsity against fidelity on the LibriSpeech test split: up and right is better", "upper left")


def _finish(plt, figure, axis, target: Path, xlabel: str, title: str, legend: str) -> None:
    """Label a PESQ-WB picture and save it."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel("PESQ-WB (input phase)")
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc=legend)
    figure.tight_layout()
    figure.savefig(target, dpi=110)
    plt.close(figure)


def paired(rows: list[dict], system: str, baseline: str = "IS-NMF-256") -> list[dict]:
    """Per set and metric, the mean difference system - baseline over the files both scored, with its 95 % interval
    (paired): whether the system is better beyond the interval (for `active`, fewer is better)."""
    table = []
    for set_name in dict.fromkeys(r["set"] for r in rows):
        mine = {r["file"]: r for r in rows if r["set"] == set_name and r["system"] == system and "error" not in r}
        theirs = {r["file"]: r for r in rows if r["set"] == set_name and r["system"] == baseline and "error" not in r}
        files = sorted(set(mine) & set(theirs))
        for metric in PAIRED:
            differences = np.array([mine[f][metric] - theirs[f][metric] for f in files])
            if len(differences) < 2:
                continue
            mean, interval = differences.mean(), 1.96 * differences.std(ddof=1) / math.sqrt(len(differences))
            better = mean < -interval if metric == "active" else mean > interval
            table.append({"set": set_name, "metric": metric, "files": len(files), "difference": float(mean),
                          "ci95": float(interval), "better": bool(better)})
    return table


def paired_markdown(table: list[dict], system: str) -> list[str]:
    lines = [f"| set | metric | {system} - IS-NMF-256 (mean over files, 95 % interval) | better beyond the interval |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r['set']} | {r['metric']} | {r['difference']:+.3f} ± {r['ci95']:.3f} | {'yes' if r['better'] else 'no'} |"
              for r in table]
    for set_name in dict.fromkeys(r["set"] for r in table):
        wins = [r["metric"] for r in table if r["set"] == set_name and r["better"] and r["metric"] != "active"]
        lines.append(f"\n{set_name}: {'not dominated (better on ' + ', '.join(wins) + ')' if wins else 'dominated'} "
                     "by IS-NMF-256 on PESQ-WB, STOI and Hoyer.")
    return lines


def plot_speed(table: list[dict], target: Path) -> None:
    """PESQ-WB against encoding frames a second (one core, log scale) on the LibriSpeech test split."""
    from sdmresynth.evaluation.plots import require_matplotlib

    plt = require_matplotlib()
    figure, axis = plt.subplots(figsize=(8, 5.5))
    for row in (r for r in table if r["set"] == "librispeech-test" and not math.isnan(r["encode_frames_per_s"])):
        axis.scatter(row["encode_frames_per_s"], row["pesq_wb"], s=30, color="tab:green" if row["system"].startswith(
            "IS-NMF") else "tab:gray" if row["system"].startswith(("PCA", "WORLD")) else "tab:blue")
        axis.annotate(row["system"], (row["encode_frames_per_s"], row["pesq_wb"]), fontsize=6, xytext=(3, 2),
                      textcoords="offset points")
    axis.axvline(62.5, color="tab:red", linestyle=":", label="real time (62.5 frames a second)")
    axis.set_xscale("log")
    _finish(plt, figure, axis, target, "encoding speed, frames a second on one core (log)",
            "Fidelity against encoding speed on the LibriSpeech test split: up and right is better", "lower left")


def markdown(table: list[dict], references: dict[str, str]) -> list[str]:
    lines = ["| set | system | code per frame | files | pesq_wb | pesq_nb | stoi | estoi | hoyer | active | "
             "encode frames/s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    sizes: dict = {}
    for r in table:
        size = sizes.get(r["system"]) or sizes.setdefault(r["system"], code_size(r["system"], references))
        cells = " | ".join("-" if math.isnan(r[m]) else f"{r[m]:.1f}" if m == "active" else f"{r[m]:.3f}"
                           for m in METRICS)
        speed = "-" if math.isnan(r["encode_frames_per_s"]) else f"{r['encode_frames_per_s']:,.0f}"
        lines.append(f"| {r['set']} | {r['system']} | {size} | {r['files']} ({r['failed']} failed) | {cells} | {speed} |")
    return lines


def write_doc(path: Path, table: list[dict], references: dict[str, str], command: str, minutes: float,
              picture: str | None, comparison: list[str]) -> None:
    kept = ""
    if path.is_file() and DOC_MARK in path.read_text(encoding="utf-8"):
        kept = path.read_text(encoding="utf-8").split(DOC_MARK, 1)[1]
    text = "\n".join([
        "# Quality: sdmresynth beside PCA, IS-NMF and WORLD", "",
        f"Made by `{command}` on {date.today().isoformat()} in {minutes:.0f} minutes ({machine()}). "
        "Baselines fitted on the default model's training lists; every system scored on the same files in this run. "
        "A file a metric cannot score (e.g. a one-second Speech Commands clip with too little speech for STOI) counts "
        "as failed and is left out of the means, for every system alike. Sets: `librispeech-test` is the "
        "speaker-disjoint LibriSpeech test-other split (10 speakers), `speech-commands` 239 one-second clips of 239 "
        "other speakers, `speechocean762-val` 84 clips of 21 Mandarin-accented speakers, adults and children.", "",
        *markdown(table, references), "",
        "`active` is the mean number of a frame's coefficients above 1 % of its largest (a count of active atoms that "
        "reads alike at any K, beside Hoyer's index, which is only comparable at equal K).", "",
        *comparison, "",
        *([f"![PESQ-WB against Hoyer sparsity for every system]({picture})", "",
           "![PESQ-WB against encoding speed on one core](quality-speed.png)", ""] if picture else []),
        DOC_MARK,
    ]) + (kept or "\n")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="sdmresynth model name or path (default: sdm-vae)")
    parser.add_argument("--front", action="store_true", help="also every shipped model, on the test split")
    parser.add_argument("--one-pass", action="store_true",
                        help="also each --model that refines its codes with the refinement off (its encoder alone)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--doc", type=Path, help="write the results page, e.g. docs/quality.md")
    parser.add_argument("--quick", action="store_true", help="3 files per set, tiny baselines: for CI")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=Path, help="also write every file's row to this JSON file")
    args = parser.parse_args()
    from sdmresynth.io.corpus import files_from
    from sdmresynth.io.shipped import read_index, resolve_model
    from sdmresynth.workers import worker_pool

    started = time.perf_counter()
    references = {resolve_model(m)[0]: m for m in args.model or ["sdm-vae"]}  # display name -> name or path
    models = list(references.values())
    if args.one_pass:
        from sdmresynth.inference.model import cached_model

        models += [m + ONE_PASS for m in list(models) if cached_model(m).model.config.refine_steps]
    baselines = [f"PCA-{s}" for s in PCA_SIZES] + [f"IS-NMF-{s}" for s in NMF_SIZES] + ["WORLD"]
    fitted = str(fit_baselines(args.quick))
    jobs = []
    for set_name, source in SETS.items():
        if not source.exists():
            continue
        systems = baselines + models
        if args.front and set_name == "librispeech-test":
            systems += [m for m in read_index()["models"] if m not in references]
        jobs += [(set_name, s, str(f)) for s in systems for f in files_from(source)[: 3 if args.quick else None]]
    with worker_pool(args.workers) as pool:
        results = list(pool.map(score_one, [j[1] for j in jobs], [j[2] for j in jobs], [fitted] * len(jobs),
                                chunksize=2))
    rows = [r | {"set": j[0]} for r, j in zip(results, jobs)]
    if args.rows:
        args.rows.write_text(json.dumps(rows))
    table = summarise(rows)
    comparison = paired(rows, next(iter(references)))
    if args.json:
        print(json.dumps({"benchmark": "quality_vs_baselines", "machine": machine(), "rows": table,
                          "against_is_nmf_256": comparison}))
    else:
        print("\n".join(markdown(table, references) + [""] + paired_markdown(comparison, next(iter(references)))))
    if args.doc:
        picture = None
        if args.front or len(table) > 1:
            picture = "quality-front.png"
            plot_front(table, args.doc.parent / picture)
            plot_speed(table, args.doc.parent / "quality-speed.png")
        command = "python -m benchmarks.experiments.quality_vs_baselines " + " ".join(
            [f"--model {m}" for m in args.model or []] + (["--front"] if args.front else [])
            + (["--one-pass"] if args.one_pass else []) + ["--doc", str(args.doc)])
        write_doc(args.doc, table, references, command.replace("  ", " "), (time.perf_counter() - started) / 60,
                  picture, paired_markdown(comparison, next(iter(references))))


if __name__ == "__main__":
    main()
