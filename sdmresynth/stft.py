"""Sine-window STFT, power spectrogram and the phase-reuse inverse STFT (pure numpy functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StftConfig:
    """Analysis settings shared by training, encoding and resynthesis."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1


def sine_window(n_fft: int) -> np.ndarray:
    """w[n] = sin(pi (n + 0.5) / N): never zero, and sum of w^2 is constant at 75 % overlap."""
    return np.sin(np.pi * (np.arange(n_fft) + 0.5) / n_fft)


def frame_count(n_samples: int, cfg: StftConfig) -> int:
    """Frames for a signal of n_samples (centred frames, half a window of zeros at each end)."""
    return 1 + -(-n_samples // cfg.hop)


def stft(signal: np.ndarray, cfg: StftConfig = StftConfig()) -> np.ndarray:
    """Complex STFT of a 1-D signal: (frames, n_bins), complex128.

    The signal is padded with n_fft // 2 zeros in front and enough at the end that every
    sample is covered, so that istft(stft(x), len(x)) == x to float precision.
    """
    signal = np.asarray(signal, dtype=np.float64)
    n_frames = frame_count(len(signal), cfg)
    half = cfg.n_fft // 2
    padded_length = (n_frames - 1) * cfg.hop + cfg.n_fft
    padded = np.zeros(padded_length)
    padded[half:half + len(signal)] = signal
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft)[:: cfg.hop]
    return np.fft.rfft(frames * sine_window(cfg.n_fft), axis=1)


def power_spectrogram(spec: np.ndarray) -> np.ndarray:
    """|S|^2 as float32: (frames, n_bins), the models' input."""
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def istft(spec: np.ndarray, length: int, cfg: StftConfig = StftConfig()) -> np.ndarray:
    """Least-squares inverse STFT (weighted overlap-add) of (frames, n_bins) -> (length,) float64."""
    window = sine_window(cfg.n_fft)
    frames = np.fft.irfft(spec, n=cfg.n_fft, axis=1) * window
    n_frames = spec.shape[0]
    total = (n_frames - 1) * cfg.hop + cfg.n_fft
    out = np.zeros(total)
    envelope = np.zeros(total)
    # Overlap-add in n_fft // hop strided passes: each pass adds non-overlapping frames at once.
    for offset in range(cfg.n_fft // cfg.hop):
        chunk = frames[offset::cfg.n_fft // cfg.hop]
        if len(chunk) == 0:
            continue
        start = offset * cfg.hop
        stop = start + len(chunk) * cfg.n_fft
        out[start:stop] += chunk.reshape(-1)
        envelope[start:stop] += np.tile(window**2, len(chunk))
    half = cfg.n_fft // 2
    return out[half:half + length] / envelope[half:half + length]


def with_phase_of(magnitude: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """A complex spectrogram with the given magnitude and the phase of spec: (frames, n_bins).

    Where spec is exactly zero (digital silence) its phase is undefined and the result is zero.
    """
    size = np.abs(spec)
    unit = np.divide(spec, size, out=np.zeros_like(spec), where=size > 0)
    return magnitude * unit
