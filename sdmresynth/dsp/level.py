"""The level of an output signal: matched to a reference's peak or RMS, or left as the model made it."""

from __future__ import annotations

import numpy as np

LEVELS = ("peak", "rms", "as-is")


def _peak(signal: np.ndarray) -> float:
    return float(np.max(np.abs(signal))) if len(signal) else 0.0


def _rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))) if len(signal) else 0.0


def match_level(signal: np.ndarray, reference: np.ndarray, level: str) -> np.ndarray:
    """signal scaled so that its peak ("peak") or RMS ("rms") equals the reference's, or unchanged ("as-is"); a
    silent signal stays silent. The peak never clips when the reference did not; the RMS (loudness) may."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: one of {', '.join(LEVELS)}")
    measure = {"peak": _peak, "rms": _rms}.get(level)
    if measure is None:
        return signal
    own = measure(signal)
    return signal if own == 0 else signal * (measure(reference) / own)
