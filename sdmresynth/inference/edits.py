"""Edits of codes (T, K) before they are decoded: keep each frame's strongest atoms, mute atoms."""

from __future__ import annotations

import numpy as np

from ..errors import UserError


def keep_top(codes: np.ndarray, count: int) -> np.ndarray:
    """codes (T, K) with only the `count` largest-magnitude coefficients of each frame kept, the rest zeroed."""
    if count < 1:
        raise UserError(f"keep_top: count must be at least 1, got {count}", parameters=("keep_top",))
    if count >= codes.shape[1]:
        return codes.copy()
    dropped = np.argpartition(np.abs(codes), codes.shape[1] - count, axis=1)[:, : codes.shape[1] - count]
    kept = codes.copy()
    np.put_along_axis(kept, dropped, 0.0, axis=1)
    return kept


def mute_atoms(codes: np.ndarray, atoms: list[int]) -> np.ndarray:
    """codes (T, K) with the given atoms (columns, 0-based) zeroed in every frame."""
    wrong = [a for a in atoms if not 0 <= a < codes.shape[1]]
    if wrong:
        raise UserError(f"atoms {wrong} to mute are out of range (the codes have atoms 0-{codes.shape[1] - 1})")
    muted = codes.copy()
    muted[:, atoms] = 0.0
    return muted


def parse_atoms(text: str) -> list[int]:
    """'3,17,40-42' -> [3, 17, 40, 41, 42]."""
    atoms = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            first, _, last = part.partition("-")
            span = range(int(first), int(last or first) + 1)
            if not span:
                raise ValueError(part)  # 5-2: a range that goes down
            atoms.extend(span)
    except ValueError:
        raise UserError(f"atom list {text!r}: expected atom numbers such as 3,17,40-42",
                        parameters=("mute_atoms",)) from None
    if not atoms:
        raise UserError(f"atom list {text!r}: names no atom", parameters=("mute_atoms",))
    return atoms
