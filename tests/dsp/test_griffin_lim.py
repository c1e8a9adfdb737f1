"""Fast Griffin-Lim: intelligible speech back, and the same result in blocks with bounded memory."""

import numpy as np


def test_fast_griffin_lim_recovers_intelligible_speech(speech):
    from pystoi import stoi

    from sdmresynth.dsp.griffin_lim import griffin_lim
    from sdmresynth.dsp.stft import stft

    reference = speech / np.abs(speech).max()
    rebuilt = griffin_lim(np.abs(stft(reference)), len(reference))
    assert len(rebuilt) == len(reference) and np.isfinite(rebuilt).all()
    assert stoi(reference, rebuilt, 16000) >= 0.85


def test_griffin_lim_in_blocks_is_the_whole_computation_with_bounded_memory(speech):
    import tracemalloc

    from sdmresynth.dsp.griffin_lim import griffin_lim
    from sdmresynth.dsp.stft import stft

    magnitude = np.abs(stft(speech))
    whole = griffin_lim(magnitude, len(speech), 5, block=len(magnitude))
    np.testing.assert_allclose(griffin_lim(magnitude, len(speech), 5, block=7), whole, rtol=0, atol=1e-12)
    long = np.abs(stft(np.random.default_rng(0).standard_normal(16000 * 60)))
    tracemalloc.start()
    try:
        griffin_lim(long, 16000 * 60, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3.5 * long.size * 16  # the estimate and the previous step's spectrogram; whole steps took 5x
