"""Edits of codes: the strongest atoms kept, atoms muted, atom lists parsed."""

import numpy as np
import pytest

from sdmresynth.errors import UserError
from sdmresynth.inference.edits import keep_top, mute_atoms, parse_atoms


def test_keep_top_keeps_the_largest_of_each_frame():
    codes = np.array([[0.1, -3.0, 2.0, 0.5], [1.0, 0.0, -0.2, 4.0]], np.float32)
    np.testing.assert_array_equal(keep_top(codes, 2), [[0, -3.0, 2.0, 0], [1.0, 0, 0, 4.0]])
    np.testing.assert_array_equal(keep_top(codes, 9), codes)
    with pytest.raises(UserError):
        keep_top(codes, 0)


def test_mute_atoms_and_their_parsing():
    codes = np.ones((3, 5), np.float32)
    assert mute_atoms(codes, parse_atoms("0, 2-3")).sum(axis=0).tolist() == [0, 3, 0, 0, 3]
    with pytest.raises(UserError, match="out of range"):
        mute_atoms(codes, [5])
    for text in ("3x", "5-2", "-3"):  # not a number, a range that goes down, a negative atom
        with pytest.raises(UserError, match="expected atom numbers"):
            parse_atoms(text)
    with pytest.raises(UserError, match="names no atom"):
        parse_atoms(" , ")
