import numpy as np
import pytest

from sdmresynth.dsp.metrics import hoyer, quality_metrics, si_sdr


def test_hoyer_extremes_and_midpoint():
    assert hoyer(np.array([[0, 0, 3.0, 0]]))[0] == pytest.approx(1.0)
    assert hoyer(np.array([[1.0, -1, 1, -1]]))[0] == pytest.approx(0.0)
    k = 16
    v = np.zeros((1, k))
    v[0, :4] = 1.0
    expected = (np.sqrt(k) - 4 / 2) / (np.sqrt(k) - 1)
    assert hoyer(v)[0] == pytest.approx(expected)
    assert hoyer(np.zeros((2, 8))).tolist() == [1.0, 1.0]


def test_si_sdr_is_scale_invariant():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000)
    noisy = x + 0.1 * rng.standard_normal(16000)
    assert si_sdr(x, 3 * noisy) == pytest.approx(si_sdr(x, noisy))
    assert si_sdr(x, noisy) == pytest.approx(20.0, abs=0.5)


def test_quality_of_a_perfect_copy_is_at_the_top(speech):
    scores = quality_metrics(speech, speech.copy())
    assert scores["pesq_wb"] > 4.5 and scores["pesq_nb"] > 4.4
    assert scores["stoi"] > 0.99 and scores["estoi"] > 0.99


def test_noise_lowers_every_score(speech):
    rng = np.random.default_rng(1)
    noisy = speech + 0.05 * rng.standard_normal(len(speech))
    clean, degraded = quality_metrics(speech, speech), quality_metrics(speech, noisy)
    for metric in ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr"):
        assert degraded[metric] < clean[metric]


def test_silence_and_mismatch_are_readable_errors(speech):
    with pytest.raises(ValueError, match="silence"):
        quality_metrics(np.zeros(16000), np.zeros(16000))
    with pytest.raises(ValueError, match="lengths differ"):
        quality_metrics(speech, speech[:-1])


def test_too_little_speech_for_stoi_is_reported_not_scored(speech):
    short = np.zeros(16000)
    short[8000:8000 + 4000] = speech[8000:12000]  # a quarter second of speech in silence
    with pytest.raises(ValueError, match="too little speech for STOI"):
        quality_metrics(short, short)
