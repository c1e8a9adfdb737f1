"""IS-NMF: the updates lower the divergence, fits stop at convergence and resume exactly."""

import numpy as np

from sdmresynth.dsp.nmf import FACTOR_FLOOR, ISNMFCode, NMFFit, fit_is_nmf, mean_divergence as is_divergence
from sdmresynth.dsp.stft import StftConfig
from sdmresynth.training.features import file_frames

from ..conftest import COMMAND, SPEECH


def test_is_nmf_updates_lower_the_divergence_and_encoding_new_frames_works():
    train, test = file_frames(SPEECH, StftConfig()), file_frames(COMMAND, StftConfig())
    divergences = []
    model = fit_is_nmf(train, 8, max_updates=30)
    for iterations in (1, 10, 50):
        codes = ISNMFCode(model.atoms, iterations=iterations).encode(test)
        divergences.append(is_divergence(test, ISNMFCode(model.atoms).decode(codes)))
        assert codes.shape == (len(test), 8) and (codes >= 0).all()
    assert divergences[0] > divergences[1] > divergences[2]
    np.testing.assert_allclose(model.atoms.sum(0), 1.0, rtol=1e-6)


def test_is_nmf_stops_at_convergence_and_a_resumed_fit_equals_an_uninterrupted_one():
    train = file_frames(SPEECH, StftConfig())
    checks: list[NMFFit] = []
    fit_is_nmf(train, 8, max_updates=400, tolerance=0.02, check_every=10, on_check=checks.append)
    history = checks[-1].history
    assert [u for u, _ in history] == list(range(10, 10 * len(history) + 1, 10))
    assert all(a > b for (_, a), (_, b) in zip(history, history[1:]))  # the divergence falls at every check
    (_, before), (_, last) = history[-2:]
    assert checks[-1].updates < 400 and before - last < 0.02 * last  # stopped by the tolerance, not the cap
    assert all(a - b >= 0.02 * b for (_, a), (_, b) in zip(history[:-2], history[1:-1]))  # and not before

    whole = fit_is_nmf(train, 8, max_updates=40, check_every=10)
    saved: list[NMFFit] = []
    fit_is_nmf(train, 8, max_updates=20, check_every=10, on_check=lambda fit: saved.append(
        NMFFit(fit.w.copy(), fit.h.copy(), fit.updates, list(fit.history))))
    resumed = fit_is_nmf(train, 8, max_updates=40, check_every=10, resume=saved[-1])
    np.testing.assert_array_equal(resumed.atoms, whole.atoms)


def test_a_fit_keeps_its_factors_out_of_the_subnormal_range():
    """Subnormal float32 entries (which multiplicative updates produce) slow every product 30-40x: a fit resumed from
    factors holding them, or from zeros, keeps every entry at least FACTOR_FLOOR, and still lowers the divergence."""
    train = file_frames(SPEECH, StftConfig())
    checks: list[NMFFit] = []
    fit_is_nmf(train, 8, max_updates=10, check_every=10, on_check=checks.append)
    start = checks[-1]
    w, h = start.w.copy(), start.h.copy()
    w[:5, 0], h[1, :50], h[2, :10] = 1e-40, 1e-41, 0.0  # subnormal and zero entries
    assert ((w > 0) & (w < np.finfo(np.float32).tiny)).any()
    resumed: list[NMFFit] = []
    fit_is_nmf(train, 8, max_updates=20, check_every=10, on_check=resumed.append,
               resume=NMFFit(w, h, start.updates, list(start.history)))
    assert resumed[-1].w.min() >= FACTOR_FLOOR and resumed[-1].h.min() >= FACTOR_FLOOR
    assert resumed[-1].history[-1][1] < start.history[-1][1]
