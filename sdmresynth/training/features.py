"""The training frames of one file: 16 kHz mono, peak-normalised, power spectrogram, silence at the ends trimmed
(as the official code does with librosa's trim(top_db=30))."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dsp.stft import StftConfig, power_frames
from ..io.audio import peak_level, read_audio

TRIM_TOP_DB = 30.0


def trim_silence(power: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Drop leading/trailing frames whose energy is more than top_db below the loudest frame's."""
    energy = power.sum(axis=1)
    if energy.max() <= 0:
        return power[:0]
    loud = np.flatnonzero(10 * np.log10(np.maximum(energy, 1e-30) / energy.max()) > -top_db)
    return power[loud[0] : loud[-1] + 1]


def file_frames(path: Path, cfg: StftConfig) -> np.ndarray:
    """Power frames (T, F) of one file: 16 kHz mono, peak-normalised, silence at the ends trimmed."""
    audio = read_audio(path, cfg.sample_rate)
    return trim_silence(power_frames(audio.samples / peak_level(audio.samples), cfg))
