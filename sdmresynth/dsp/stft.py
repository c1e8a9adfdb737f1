"""Sine-window STFT, power spectrogram and the phase-reuse inverse STFT (pure numpy functions).

Frames are centred: frame i covers samples [i*hop - n_fft/2, i*hop + n_fft/2), zeros outside the signal.
Both directions work on any range of frames, so long signals can be processed block by block with a result
identical to processing them whole.
"""

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
    """Frames for a signal of n_samples: enough centred frames that every sample is covered."""
    return 1 + -(-n_samples // cfg.hop)


def stft(signal: np.ndarray, cfg: StftConfig = StftConfig(), start: int = 0, stop: int | None = None) -> np.ndarray:
    """Complex STFT frames [start, stop) of a 1-D signal: (frames, n_bins), complex128.

    istft(stft(x), len(x)) == x to float precision.
    """
    stop = frame_count(len(signal), cfg) if stop is None else stop
    first = start * cfg.hop - cfg.n_fft // 2  # first sample of frame `start`
    segment = np.zeros((stop - start - 1) * cfg.hop + cfg.n_fft)
    lo, hi = max(first, 0), min(first + len(segment), len(signal))
    if hi > lo:
        segment[lo - first : hi - first] = signal[lo:hi]
    frames = np.lib.stride_tricks.sliding_window_view(segment, cfg.n_fft)[:: cfg.hop]
    return np.fft.rfft(frames * sine_window(cfg.n_fft), axis=1)


def power_spectrogram(spec: np.ndarray) -> np.ndarray:
    """|S|^2 as float32: (frames, n_bins), the models' input."""
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def power_frames(signal: np.ndarray, cfg: StftConfig = StftConfig(), block: int = 64) -> np.ndarray:
    """power_spectrogram(stft(signal, cfg)), the same numbers, computed `block` frames at a time: the complex
    spectrogram and the windowed frames (eight times the samples' memory) never exist whole, and each block's
    temporaries are reused by malloc instead of faulted in fresh (larger blocks fall outside that reuse)."""
    total = frame_count(len(signal), cfg)
    power = np.empty((total, cfg.n_bins), np.float32)
    for start in range(0, total, block):
        stop = min(start + block, total)
        power[start:stop] = power_spectrogram(stft(signal, cfg, start, stop))
    return power


def with_phase_of(magnitude: np.ndarray, spec: np.ndarray, silent: float = 0.0) -> np.ndarray:
    """A complex spectrogram with the given magnitude and the phase of spec: (frames, n_bins).

    Where spec is exactly zero (digital silence) its phase is undefined: the result there is magnitude * `silent`
    (0: silence stays silent, as resynthesis wants; 1: the magnitude at zero phase, as Griffin-Lim wants).
    """
    size = np.abs(spec)
    unit = np.divide(spec, size, out=np.full_like(spec, silent, dtype=np.result_type(spec, magnitude, 1j)),
                     where=size > 0)
    unit *= magnitude
    return unit


class OverlapAdd:
    """Least-squares inverse STFT (weighted overlap-add), fed consecutive blocks of frames.

    `push` returns the output samples that no later frame can change; `finish` returns the rest.
    Together they give exactly `length` samples.
    """

    def __init__(self, length: int, cfg: StftConfig = StftConfig()) -> None:
        self.cfg = cfg
        self.length = length
        self.window = sine_window(cfg.n_fft)
        self.pending = np.zeros((2, cfg.n_fft - cfg.hop))  # signal and window-power sums not yet final
        self.position = -(cfg.n_fft // 2)  # sample index of pending[:, 0]

    def push(self, spec: np.ndarray) -> np.ndarray:
        """Add frames (T, n_bins) following the previous ones; return the finished samples."""
        cfg, count = self.cfg, len(spec)
        if count == 0:
            return np.zeros(0)
        frames = np.fft.irfft(spec, n=cfg.n_fft, axis=1) * self.window
        buffer = np.zeros((2, (count - 1) * cfg.hop + cfg.n_fft))
        buffer[:, : self.pending.shape[1]] += self.pending
        stride = cfg.n_fft // cfg.hop
        for offset in range(stride):  # frames offset, offset + stride, ... do not overlap: add them at once
            chunk = frames[offset::stride]
            begin = offset * cfg.hop
            end = begin + len(chunk) * cfg.n_fft
            buffer[0, begin:end] += chunk.reshape(-1)
            buffer[1, begin:end] += np.tile(self.window**2, len(chunk))
        done = count * cfg.hop
        self.pending = buffer[:, done:]
        return self._emit(buffer[:, :done])

    def finish(self) -> np.ndarray:
        """The remaining samples once every frame has been pushed."""
        return self._emit(self.pending)

    def _emit(self, block: np.ndarray) -> np.ndarray:
        start = self.position
        self.position += block.shape[1]
        lo, hi = max(0, -start), max(0, min(block.shape[1], self.length - start))
        if hi <= lo:
            return np.zeros(0)
        return block[0, lo:hi] / block[1, lo:hi]


def istft(spec: np.ndarray, length: int, cfg: StftConfig = StftConfig(), block: int = 1024) -> np.ndarray:
    """Least-squares inverse STFT of (frames, n_bins) -> (length,) float64, `block` frames at a time (the frames'
    inverse transforms never exist whole: twice the spectrogram's memory for a long file)."""
    ola = OverlapAdd(length, cfg)
    return np.concatenate([*(ola.push(spec[start : start + block]) for start in range(0, len(spec), block)),
                           ola.finish()])
