"""Pictures (optional matplotlib): an encoding's spectrograms and code activity, per-model score distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dsp.metrics import METRIC_NAMES
from ..dsp.stft import power_frames
from ..errors import UserError
from ..inference.coding import STFT, decode, encode
from ..io.atomic import write_atomically
from ..io.audio import peak_level, read_audio

INSTALL_HINT = "pip install matplotlib (the project's plot extra)"


def require_matplotlib(target: Path | None = None):
    """matplotlib.pyplot on a file-only backend, or a clear error saying how to install it; a picture `target`
    not named .png is refused first (a PNG under another name could replace an input: `--plot in.wav`)."""
    if target is not None and target.suffix.lower() != ".png":
        raise UserError(f"{target}: pictures are written as PNG: name it NAME.png")
    try:
        import matplotlib
    except ImportError:
        raise UserError(f"plots need matplotlib: {INSTALL_HINT}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, target: Path) -> None:
    write_atomically(target, lambda temp: figure.savefig(temp, format="png", dpi=120, bbox_inches="tight"))


def plot_encoding(loaded, source: Path, target: Path) -> None:
    """Input spectrogram, resynthesised spectrogram (the decoded sigma^2) and code activity (atoms x frames)."""
    plt = require_matplotlib()
    audio = read_audio(source)
    power = power_frames(audio.samples / peak_level(audio.samples), STFT)
    encoding = encode(loaded, audio.samples)
    variance = decode(loaded, encoding.z)
    seconds = len(audio.samples) / audio.sample_rate
    extent = [0, seconds, 0, audio.sample_rate / 2000]
    figure, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for axis, image, title in ((axes[0], power, "input power spectrogram"),
                               (axes[1], variance, f"resynthesised (decoded variance), model {loaded.name}")):
        decibels = 10 * np.log10(np.maximum(image.T, 1e-10))
        shown = axis.imshow(decibels, origin="lower", aspect="auto", extent=extent, cmap="magma",
                            vmin=decibels.max() - 80, vmax=decibels.max())
        axis.set(title=title, ylabel="kHz")
        figure.colorbar(shown, ax=axis, label="dB")
    activity = axes[2].imshow(np.abs(encoding.codes.T), origin="lower", aspect="auto", cmap="Greys",
                              extent=[0, seconds, -0.5, encoding.codes.shape[1] - 0.5], interpolation="nearest")
    axes[2].set(title=f"code activity |code| (mean Hoyer sparsity {encoding.hoyer.mean():.2f})", xlabel="seconds",
                ylabel="atom")
    figure.colorbar(activity, ax=axes[2])
    _save(figure, target)
    plt.close(figure)


def plot_scores(scores, target: Path) -> None:
    """One box plot per metric, one box per model, over the files scored."""
    plt = require_matplotlib()
    models = list(dict.fromkeys(s.model for s in scores))
    figure, axes = plt.subplots(2, 3, figsize=(4 * 3, 7))
    for axis, metric in zip(axes.flat, METRIC_NAMES):
        data = [[s.metrics[metric] for s in scores if s.model == m and metric in s.metrics] for m in models]
        axis.boxplot(data, showmeans=True)
        axis.set_xticks(range(1, len(models) + 1), models, rotation=30, ha="right", fontsize=8)
        axis.set_title(metric)
    figure.tight_layout()
    _save(figure, target)
    plt.close(figure)
