"""How many atoms speech needs: resynthesis quality against the number of code coefficients kept per frame.

For each model and test file: encode, keep the N largest-magnitude coefficients of every frame's code
(`decode --keep-top N`), decode with the input's phase and score PESQ-WB and STOI against the peak-normalised input;
also decode the full code without the phase (fast Griffin-Lim, 100 iterations). Draws the curve and the most used
atoms as spectral shapes (the decoder's output for each atom alone) and writes docs/atoms.md.

    python -m benchmarks.experiments.atoms [--model sdm-vae --model vae-l64] [--list LIST] [--workers N] [--doc docs/atoms.md]
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path

import numpy as np
from ..common import ROOT, TEST_LIST, FALLBACK_CLIPS, machine

from sdmresynth.workers import worker_pool

TOP_ATOMS = 8  # an atom is "used" in a frame when it is among the frame's 8 largest coefficients
SHAPES = 12


def counts_for(atoms: int) -> list[int]:
    """1, 2, 4, ... up to K."""
    counts = [1]
    while counts[-1] * 2 < atoms:
        counts.append(counts[-1] * 2)
    return counts + [atoms]


def score_file(model_name: str, path: str) -> dict:
    """Per kept count: (pesq_wb, stoi); Griffin-Lim STOI; how often each atom is among the frame's top 8."""
    import sdmresynth.api as sdm
    from sdmresynth.dsp.metrics import quality_metrics
    from sdmresynth.inference.model import cached_model

    loaded = cached_model(model_name)
    samples = sdm.read_audio(path).samples.astype(np.float64)
    reference = samples / np.abs(samples).max()
    codes = sdm.encode(loaded, reference).codes
    curve = {}
    for count in counts_for(codes.shape[1]):
        estimate = sdm.decode_codes(loaded, sdm.keep_top(codes, count), len(reference), phase_from=reference)
        metrics = quality_metrics(reference, estimate)
        curve[count] = (metrics["pesq_wb"], metrics["stoi"])
    griffin_lim = quality_metrics(reference, sdm.decode_codes(loaded, codes, len(reference)))
    top = np.argsort(-np.abs(codes), axis=1)[:, :TOP_ATOMS]
    usage = np.bincount(top.ravel(), minlength=codes.shape[1])
    return {"model": loaded.name, "file": path, "curve": curve, "gl_pesq_wb": griffin_lim["pesq_wb"],
            "gl_stoi": griffin_lim["stoi"], "usage": usage.tolist(), "frames": len(codes),
            "magnitude": np.abs(codes).sum(axis=0).tolist()}


def atom_shapes(model_name: str, usage: np.ndarray, magnitude: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The most used atoms and the decoder's log-variance (dB) for each alone, at its mean magnitude when used;
    and the decoder's output for the empty code (all zeros)."""
    import torch

    import sdmresynth.api as sdm

    loaded = sdm.load_model(model_name, "cpu")
    atoms = list(np.argsort(-usage)[:SHAPES])
    size = magnitude / np.maximum(usage, 1)
    codes = np.zeros((len(atoms) + 1, loaded.model.config.code_dim), np.float32)
    for row, atom in enumerate(atoms):
        codes[row, atom] = size[atom]
    with torch.no_grad():
        log_variance = loaded.model.decode(loaded.model.to_latent(torch.from_numpy(codes))).numpy()
    decibels = 10 * log_variance / np.log(10)
    return atoms, decibels[:-1], decibels[-1]


def plot(results: dict, shapes: dict, target_dir: Path) -> list[str]:
    from sdmresynth.evaluation.plots import require_matplotlib

    plt = require_matplotlib()
    figure, (pesq_axis, stoi_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name, summary in results.items():
        counts = sorted(summary["curve"])
        pesq_axis.plot(counts, [summary["curve"][c][0] for c in counts], marker="o", label=name)
        stoi_axis.plot(counts, [summary["curve"][c][1] for c in counts], marker="o", label=name)
    for axis, label in ((pesq_axis, "PESQ-WB"), (stoi_axis, "STOI")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("coefficients kept per frame (N largest |code|)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    pesq_axis.legend(fontsize=8)
    figure.tight_layout()
    names = ["atoms-curve.png"]
    figure.savefig(target_dir / names[0], dpi=110)
    plt.close(figure)
    for name, (atoms, decibels, empty) in shapes.items():
        figure, axes = plt.subplots(3, 4, figsize=(12, 7), sharex=True, sharey=True)
        frequency = np.arange(decibels.shape[1]) * 8.0 / (decibels.shape[1] - 1)
        for axis, atom, curve in zip(axes.ravel(), atoms, decibels):
            axis.plot(frequency, empty, color="0.7", linewidth=0.8)
            axis.plot(frequency, curve, linewidth=1.0)
            axis.set_title(f"atom {atom}", fontsize=9)
        for axis in axes[-1]:
            axis.set_xlabel("kHz")
        for axis in axes[:, 0]:
            axis.set_ylabel("dB")
        figure.suptitle(f"{name}: the 12 most used atoms alone (grey: the empty code)", fontsize=10)
        figure.tight_layout()
        names.append(f"atoms-{name}.png")
        figure.savefig(target_dir / names[-1], dpi=110)
        plt.close(figure)
    return names


def summarise(rows: list[dict]) -> dict:
    results: dict = {}
    for row in rows:
        entry = results.setdefault(row["model"], {"curves": [], "gl_pesq_wb": [], "gl_stoi": [], "usage": 0,
                                                  "magnitude": 0, "files": 0})
        entry["curves"].append(row["curve"])
        entry["gl_pesq_wb"].append(row["gl_pesq_wb"])
        entry["gl_stoi"].append(row["gl_stoi"])
        entry["usage"] = entry["usage"] + np.array(row["usage"])
        entry["magnitude"] = entry["magnitude"] + np.array(row["magnitude"])
        entry["files"] += 1
    for entry in results.values():
        counts = entry["curves"][0].keys()
        entry["curve"] = {c: tuple(np.mean([curve[c][i] for curve in entry["curves"]]) for i in (0, 1))
                          for c in counts}
        entry["gl_pesq_wb"], entry["gl_stoi"] = np.mean(entry["gl_pesq_wb"]), np.mean(entry["gl_stoi"])
    return results


def write_doc(path: Path, results: dict, pictures: list[str], source: str, command: str) -> None:
    lines = ["# How many atoms speech needs", "",
             f"Made by `{command}` on {date.today().isoformat()} ({machine()}), on {source}. For each file the codes "
             "(`w` for the SDM-VAE, `z` for the VAE) keep only each frame's N largest-magnitude coefficients "
             "(`sdmresynth decode --keep-top N`) and are decoded with the input's phase; the last row of each model "
             "decodes the full code without any phase (`decode` without `--phase-from`: fast Griffin-Lim, 100 "
             "iterations). Means over files.", "",
             "| model | kept per frame | pesq_wb | stoi |", "| --- | --- | --- | --- |"]
    for name, entry in results.items():
        for count, (pesq_wb, stoi) in sorted(entry["curve"].items()):
            lines.append(f"| {name} | {count} | {pesq_wb:.3f} | {stoi:.3f} |")
        lines.append(f"| {name} | all, no phase (Griffin-Lim) | {entry['gl_pesq_wb']:.3f} | {entry['gl_stoi']:.3f} |")
    lines += ["", "## What it says", ""]
    for name, entry in results.items():
        counts = sorted(entry["curve"])
        pesq = [entry["curve"][c][0] for c in counts]
        monotonic = all(a <= b + 1e-9 for a, b in zip(pesq, pesq[1:]))
        full = pesq[-1]
        enough = next(c for c in counts if entry["curve"][c][0] >= full - 0.1)
        lines.append(f"- {name} ({entry['files']} files): keeping fewer coefficients lowers PESQ-WB "
                     f"{'monotonically' if monotonic else 'but not monotonically'} on average; {enough} of "
                     f"{counts[-1]} coefficients per frame reach within 0.1 PESQ-WB of the full code ({full:.2f}); "
                     f"without the input's phase STOI is {entry['gl_stoi']:.3f}.")
    lines += ["", "![PESQ-WB and STOI against the coefficients kept](atoms-curve.png)", ""]
    lines += [f"![most used atoms]({p})" for p in pictures[1:]]
    lines += ["", "An atom's shape is the decoder's log-variance (dB, 0-8 kHz) for a code holding that atom alone, at "
              "its mean magnitude in the frames where it is among the 8 largest; grey is the decoder's output for the "
              "empty code. Atoms are ranked by how often they are among a frame's 8 largest coefficients.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model name or path (default: sdm-vae and vae-l64)")
    parser.add_argument("--list", type=Path, default=TEST_LIST)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--doc", type=Path, help="write the page (and its pictures beside it), e.g. docs/atoms.md")
    parser.add_argument("--quick", action="store_true", help="2 files, for CI")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from sdmresynth.io.corpus import read_list

    models = args.model or ["sdm-vae", "vae-l64"]
    files = read_list(args.list) if args.list.is_file() else FALLBACK_CLIPS
    files = files[:2] if args.quick else files
    jobs = [(m, str(f)) for m in models for f in files]
    with worker_pool(args.workers) as pool:
        rows = list(pool.map(score_file, *zip(*jobs)))
    results = summarise(rows)
    if args.json:
        print(json.dumps({"benchmark": "atoms", "machine": machine(), "models": {
            name: {"curve": {str(c): v for c, v in e["curve"].items()}, "gl_stoi": e["gl_stoi"],
                   "gl_pesq_wb": e["gl_pesq_wb"], "files": e["files"]} for name, e in results.items()}}))
    else:
        for name, entry in results.items():
            for count, (pesq_wb, stoi) in sorted(entry["curve"].items()):
                print(f"{name:40s} keep {count:4d}  pesq_wb {pesq_wb:.3f}  stoi {stoi:.3f}")
            print(f"{name:40s} no phase     pesq_wb {entry['gl_pesq_wb']:.3f}  stoi {entry['gl_stoi']:.3f}")
    if args.doc:
        shapes = {name: atom_shapes(name, e["usage"], e["magnitude"]) for name, e in results.items()}
        pictures = plot(results, shapes, args.doc.parent)
        source = args.list.relative_to(ROOT.parent).as_posix() if args.list.is_file() else "the repository's clips"
        write_doc(args.doc, results, pictures, f"../{source}", "python -m benchmarks.experiments.atoms " + " ".join(
            [f"--model {m}" for m in models] + ["--doc", args.doc.as_posix()]))


if __name__ == "__main__":
    main()
