"""bfloat16 frames: float32's top 16 bits, rounded to the nearest like torch's own bfloat16."""

import numpy as np
import pytest
import torch

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.training.framestore.precision import from_bfloat16, rounded, to_bfloat16
from sdmresynth.training.sets import load_frames

from ..conftest import SPEECH


def _torch_rounded(values: np.ndarray) -> np.ndarray:
    return torch.from_numpy(values).to(torch.bfloat16).to(torch.float32).numpy()


def test_bfloat16_rounds_as_torch_does_over_the_whole_range():
    rng = np.random.default_rng(0)
    values = (10.0 ** rng.uniform(-37, 38, 100_000)).astype(np.float32)  # normal floats: power spectra span many decades
    bits = values.view(np.uint32)
    ties = ((bits & 0xFFFF0000) | 0x8000).view(np.float32)  # exactly halfway between two bfloat16 values
    values = np.concatenate([values, ties, [0.0, 1.0, 3.0e38]]).astype(np.float32)
    kept = to_bfloat16(values)
    assert kept.dtype == np.uint16 and kept.nbytes == values.nbytes // 2
    np.testing.assert_array_equal(from_bfloat16(kept), _torch_rounded(values))  # ties go to the even pattern
    assert np.max(np.abs(rounded(values[:-3], "bfloat16") / values[:-3] - 1)) <= 2.0**-8


def test_rounding_is_idempotent_and_float32_is_kept_as_is():
    values = np.random.default_rng(1).random((50, 513), dtype=np.float32)
    once = rounded(values, "bfloat16")
    np.testing.assert_array_equal(rounded(once, "bfloat16"), once)
    assert not np.array_equal(once, values)
    np.testing.assert_array_equal(rounded(values, "float32"), values)


def test_a_precision_frames_cannot_be_kept_at_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="frame precision 'float16': it is one of float32, bfloat16"):
        load_frames([SPEECH], StftConfig(), tmp_path / "cache", precision="float16")
    assert not (tmp_path / "cache").exists()
