"""How training frames are held: float32, or bfloat16 (float32's top 16 bits: its whole range, 8 significant bits),
which halves the frame store on disk and in the page cache. numpy has no bfloat16, so its values are kept as their
uint16 bit patterns."""

from __future__ import annotations

import numpy as np

STORAGE = {"float32": np.dtype(np.float32), "bfloat16": np.dtype(np.uint16)}  # the dtype each is kept in


def check_precision(precision: str) -> None:
    """Refuse a precision frames cannot be kept at."""
    if precision not in STORAGE:
        raise ValueError(f"frame precision {precision!r}: it is one of {', '.join(STORAGE)}")


def to_bfloat16(values: np.ndarray) -> np.ndarray:
    """Finite float32 values as bfloat16 bit patterns (uint16), rounded to the nearest (ties to even): each within a
    factor 1 +- 2**-8 of the value."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounding = (bits >> 16) & 1
    rounding += 0x7FFF
    rounding += bits
    rounding >>= 16
    return rounding.astype(np.uint16)


def from_bfloat16(patterns: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) as float32 values (exact)."""
    bits = patterns.astype(np.uint32)
    bits <<= 16
    return bits.view(np.float32)


def to_storage(frames: np.ndarray, precision: str) -> np.ndarray:
    """float32 frames as they are kept at `precision` (a contiguous array of STORAGE[precision])."""
    if precision == "bfloat16":
        return to_bfloat16(frames)
    return np.ascontiguousarray(frames, dtype=np.float32)


def from_storage(kept: np.ndarray) -> np.ndarray:
    """Frames kept by `to_storage` as float32 (a bfloat16 store's uint16 patterns are widened; float32 passes
    through)."""
    return from_bfloat16(kept) if kept.dtype == STORAGE["bfloat16"] else kept


def rounded(frames: np.ndarray, precision: str) -> np.ndarray:
    """float32 frames with the values `precision` keeps: what training reads back from a store of that precision."""
    return from_storage(to_storage(frames, precision))
