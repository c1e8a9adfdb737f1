import numpy as np
import pytest

from sdmresynth.dsp.stft import StftConfig, frame_count, istft, power_frames, power_spectrogram, sine_window, stft, with_phase_of


def test_sine_window_overlap_adds_to_a_constant():
    window = sine_window(1024)
    total = sum(np.roll(window**2, k * 256) for k in range(4))
    np.testing.assert_allclose(total, 2.0, atol=1e-12)


def test_round_trip_reconstructs_real_speech_to_float_precision(speech):
    spec = stft(speech)
    assert spec.shape == (frame_count(len(speech), StftConfig()), 513)
    out = istft(spec, len(speech))
    assert out.shape == speech.shape
    assert np.max(np.abs(out - speech)) < 1e-12


@pytest.mark.parametrize("length", [1, 255, 256, 1023, 1024, 1600, 16001])
def test_round_trip_any_length(length):
    signal = np.random.default_rng(length).standard_normal(length)
    np.testing.assert_allclose(istft(stft(signal), length), signal, atol=1e-12)


def test_phase_reuse_with_true_magnitude_is_identity(speech):
    spec = stft(speech)
    rebuilt = with_phase_of(np.sqrt(power_spectrogram(spec).astype(np.float64)), spec)
    out = istft(rebuilt, len(speech))
    # float32 power costs a little precision, nothing more
    assert np.max(np.abs(out - speech)) < 1e-5


def test_power_spectrogram_of_a_sinusoid_peaks_at_its_bin():
    t = np.arange(16000) / 16000
    power = power_spectrogram(stft(np.sin(2 * np.pi * 1000 * t)))
    assert power.dtype == np.float32
    assert np.argmax(power[10]) == round(1000 / 16000 * 1024)


@pytest.mark.parametrize("block", [1, 7, 256, 10_000])
def test_power_frames_in_blocks_are_exactly_the_whole_power_spectrogram(speech, block):
    whole = power_spectrogram(stft(speech))
    assert len(whole) % 7 != 0  # the last block is a partial one
    blocked = power_frames(speech, block=block)
    assert blocked.dtype == np.float32
    np.testing.assert_array_equal(blocked, whole)


def test_power_frames_never_hold_the_whole_complex_spectrogram():
    import tracemalloc

    signal = np.random.default_rng(0).standard_normal(16000 * 120)
    tracemalloc.start()
    try:
        power_frames(signal)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * signal.nbytes  # the result and a block's temporaries; the whole transform takes 9x
