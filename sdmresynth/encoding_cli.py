"""`sdmresynth encode` and `resynth` on files: the per-file jobs, the codes file, a readable summary, a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .api import STFT, LoadedModel, encode, read_audio, resynthesise_file
from .audio import peak_level
from .codes import CodesFile, write_codes

TOP_ATOMS = 8


def encode_file(loaded: LoadedModel, source: Path, output: Path) -> tuple[list[str], dict[str, Any]]:
    """Encode source, write codes/z/hoyer to output (.npz, atomically); return notices and a summary."""
    audio = read_audio(source)
    encoding = encode(loaded, audio.samples)
    frame_hoyer = encoding.hoyer
    codes_file = CodesFile(encoding.codes, model_reference(loaded), loaded.sha256, len(audio.samples),
                           peak_level(audio.samples), STFT.sample_rate, STFT.hop, STFT.n_fft)
    write_codes(output, codes_file, encoding.z, frame_hoyer)
    activity = np.abs(encoding.codes).mean(axis=0)
    top = np.argsort(activity)[::-1][:TOP_ATOMS]
    summary = {
        "file": str(source),
        "output": str(output),
        "model": loaded.name,
        "model_type": loaded.model.config.model_type,
        "frames": int(encoding.codes.shape[0]),
        "atoms": int(encoding.codes.shape[1]),
        "latent_dim": int(encoding.z.shape[1]),
        "seconds": round(len(audio.samples) / audio.sample_rate, 3),
        "hoyer": float(frame_hoyer.mean()),
        "top_atoms": [{"atom": int(k), "mean_abs": float(activity[k])} for k in top],
    }
    return audio.notices, summary


def model_reference(loaded: LoadedModel) -> str:
    """How a codes file names its model: the shipped name, or the checkpoint's absolute path."""
    from .pretrained import pretrained_dir

    shipped = loaded.path.resolve().parent == pretrained_dir().resolve()
    return loaded.name if shipped else str(loaded.path.resolve())


def resynthesise_job(loaded: LoadedModel, source: Path, target: Path, keep_rate: bool = False
                     ) -> tuple[list[str], dict[str, Any]]:
    """Resynthesise source into target; return notices and a summary."""
    audio = resynthesise_file(loaded, source, target, keep_rate=keep_rate)
    return audio.notices, {"file": str(source), "output": str(target), "seconds": len(audio.samples) / audio.sample_rate}


def print_summary(summary: dict[str, Any]) -> None:
    """A short human-readable report of an encoding."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True)
    console.print(f"[bold]{escape(summary['file'])}[/] -> {escape(summary['output'])}")
    console.print(f"model {summary['model']} ({summary['model_type']}): {summary['frames']} frames "
                  f"({summary['seconds']} s) x {summary['atoms']} atoms, latent L = {summary['latent_dim']}")
    console.print(f"mean Hoyer sparsity: {summary['hoyer']:.3f} (0 = dense, 1 = one active atom per frame)")
    tops = ", ".join(f"{t['atom']} ({t['mean_abs']:.2f})" for t in summary["top_atoms"])
    console.print(f"most active atoms (mean |code|): {tops}")
    if "plot" in summary:
        console.print(f"picture: {escape(summary['plot'])}")
