"""`enhance`: the EM's objective, recovery on a mixture drawn from the model itself, hostile inputs, the CLI."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch

import sdmresynth.api as sdm
from sdmresynth.dsp.divergence import POWER_FLOOR
from sdmresynth.dsp.metrics import si_sdr
from sdmresynth.dsp.stft import power_spectrogram, stft
from sdmresynth.inference.enhance import EnhanceConfig, enhance_spectrogram

from ..conftest import SPEECH


@pytest.fixture(scope="module")
def drawn_mixture():
    """Speech and noise STFTs drawn from the model's own decoded variances (vae-l64 on a real clip, with per-frame
    gains) and a rank-2 NMF noise, at 0 dB: (model, speech, noise, speech variance, noise variance)."""
    loaded = sdm.load_model("vae-l64", "cpu")
    samples = sf.read(SPEECH)[0][:32000]
    spec = stft(samples / np.abs(samples).max())
    with torch.no_grad():
        shape = loaded.model.reconstruct(torch.from_numpy(power_spectrogram(spec))).double().numpy()
    rng = np.random.default_rng(0)
    speech_var = shape * rng.uniform(0.5, 2.0, size=(len(shape), 1))
    bins = np.arange(shape.shape[1])
    spectra = np.stack([np.exp(-bins / 150.0), 0.2 + np.exp(-((bins - 300) / 60.0) ** 2)], axis=1)  # (F, 2)
    activations = rng.uniform(0.5, 1.5, size=(2, len(shape)))
    noise_var = spectra @ activations
    noise_var *= speech_var.sum() / noise_var.T.sum()

    def draw(variance):
        return np.sqrt(variance / 2) * (rng.standard_normal(variance.shape) + 1j * rng.standard_normal(variance.shape))

    return loaded.model, draw(speech_var), draw(noise_var.T), speech_var, noise_var.T


def snr(speech: np.ndarray, estimate: np.ndarray) -> float:
    """The estimate's SNR against the speech (STFTs), in dB."""
    return float(10 * np.log10(np.sum(np.abs(speech) ** 2) / np.sum(np.abs(estimate - speech) ** 2)))


@pytest.mark.parametrize("prior", ["vae-l64", "sdm-vae-dct-l64-k256"])  # N(0, I) and the per-frame SDM prior
@pytest.mark.parametrize("smoothness", [0.0, 10.0])  # without and with the temporal prior on the codes
def test_em_objective_never_increases(drawn_mixture, prior, smoothness):
    _, speech, noise, _, _ = drawn_mixture
    model = sdm.load_model(prior, "cpu").model
    result = enhance_spectrogram(model, speech + noise, EnhanceConfig(iterations=12, code_smoothness=smoothness))
    steps = np.diff(result.objective)
    assert len(result.objective) == 12 and np.all(steps <= 1e-6 * np.abs(result.objective[:-1]))
    assert result.objective[-1] < result.objective[0]


def test_em_recovers_the_speech_variances_of_a_mixture_drawn_from_the_model(drawn_mixture):
    model, speech, noise, speech_var, _ = drawn_mixture
    result = enhance_spectrogram(model, speech + noise, EnhanceConfig(wiener_exponent=1.0))  # the posterior mean

    def log_distance(estimate):  # dB, over the bins that hold most of the speech
        strong = speech_var > np.quantile(speech_var, 0.5)
        return np.sqrt(np.mean((10 * np.log10(estimate[strong] / speech_var[strong])) ** 2))

    assert log_distance(result.speech_variance) < 0.6 * log_distance(np.abs(speech + noise) ** 2)  # 0.51 measured
    # +7.7 dB measured; the oracle Wiener filter gives +10.9
    assert snr(speech, result.speech) > snr(speech, speech + noise) + 5


def test_the_temporal_prior_makes_the_codes_smoother(drawn_mixture):
    model, speech, noise, _, _ = drawn_mixture
    roughness = [np.sum(np.diff(enhance_spectrogram(model, speech + noise, EnhanceConfig(code_smoothness=weight))
                                .codes, axis=0) ** 2) for weight in (0.0, 10.0)]
    assert roughness[1] < 0.8 * roughness[0]
    with pytest.raises(ValueError, match="code_smoothness"):
        EnhanceConfig(code_smoothness=-1)


def test_the_wiener_exponent_shapes_the_output_and_not_the_em(drawn_mixture):
    model, speech, noise, _, _ = drawn_mixture
    config = EnhanceConfig(iterations=3, wiener_exponent=1.0)
    plain = enhance_spectrogram(model, speech + noise, config)
    sharper = enhance_spectrogram(model, speech + noise, dataclasses.replace(config, wiener_exponent=1.5))
    assert sharper.objective == plain.objective
    gain = plain.speech_variance / (plain.speech_variance + plain.noise_variance)
    np.testing.assert_allclose(plain.speech, gain * (speech + noise), rtol=1e-12)
    np.testing.assert_allclose(sharper.speech, gain**1.5 * (speech + noise), rtol=1e-12)
    with pytest.raises(ValueError, match="wiener_exponent"):
        EnhanceConfig(wiener_exponent=0)


def test_silence_is_returned_as_silence_and_short_or_noise_only_input_gives_a_result():
    model = sdm.load_model("vae-l64", "cpu")
    assert not np.any(sdm.enhance(model, np.zeros(8000)))
    for samples in (np.random.default_rng(1).standard_normal(100) * 0.1,  # one frame and a bit
                    np.random.default_rng(2).standard_normal(16000) * 0.1):  # pure noise
        out = sdm.enhance(model, samples)
        assert out.shape == samples.shape and np.all(np.isfinite(out))
        assert np.sum(out**2) < np.sum(samples**2)


def test_long_input_is_enhanced_block_by_block_with_progress_and_keeps_length_and_level():
    model = sdm.load_model("vae-l64", "cpu")
    samples = sf.read(SPEECH)[0][:24000] * 0.3
    noisy = samples + 0.05 * np.random.default_rng(3).standard_normal(len(samples))  # white noise, -7.4 dB SI-SDR
    whole = sdm.enhance(model, noisy)
    assert whole.shape == noisy.shape and si_sdr(samples, whole) > si_sdr(samples, noisy) + 5  # +7.8 dB measured
    assert 0.3 < np.abs(whole).max() / np.abs(samples).max() < 1.5
    blocks = []
    pieces = sdm.enhance(model, noisy, EnhanceConfig(iterations=2), block_frames=40,
                         on_block=lambda done, total: blocks.append((done, total)))
    assert pieces.shape == noisy.shape and np.all(np.isfinite(pieces))
    assert blocks == [(1, 3), (2, 3), (3, 3)]  # 95 frames in blocks of 40, each with its own noise model


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_enhances_like_the_cpu():
    samples = sf.read(SPEECH)[0][:32000] * 0.3
    noisy = samples + 0.05 * np.random.default_rng(5).standard_normal(len(samples))
    cpu = sdm.enhance(sdm.load_model("sdm-vae", "cpu"), noisy)
    gpu = sdm.enhance(sdm.load_model("sdm-vae", "cuda"), noisy)
    assert si_sdr(samples, gpu) == pytest.approx(si_sdr(samples, cpu), abs=0.2)
    assert si_sdr(cpu, gpu) > 25  # the same EM; float rounding may flip a few per-frame code acceptances


def test_em_starts_from_given_codes(drawn_mixture):
    """start_codes replaces the encoder's means as the EM's start: its own means give the default's result exactly,
    the clean speech's codes a better separation (the diagnostic of docs/enhancement.md), a wrong shape an error."""
    model, speech, noise, _, _ = drawn_mixture
    config = EnhanceConfig(iterations=5)
    with torch.no_grad():  # the encoder's view as enhance_spectrogram forms it: |x|^2 + the floor, in float32
        own = model.codes(torch.from_numpy(np.abs(speech + noise) ** 2 + POWER_FLOOR).float()).numpy()
        clean = model.codes(torch.from_numpy(power_spectrogram(speech))).numpy()
    default = enhance_spectrogram(model, speech + noise, config)
    np.testing.assert_allclose(enhance_spectrogram(model, speech + noise, config, own).speech, default.speech)
    from_clean = enhance_spectrogram(model, speech + noise, dataclasses.replace(config, speech_gain_init=1.0), clean)
    assert snr(speech, from_clean.speech) > snr(speech, default.speech) + 1.0
    with pytest.raises(ValueError, match="start_codes"):
        enhance_spectrogram(model, speech + noise, config, own[1:])
