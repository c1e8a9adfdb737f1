"""Signals through a model (the Python API): blocks, levels, shapes, devices, decoding with and without a phase."""

import numpy as np
import pytest

import sdmresynth.api as sdm

from ..conftest import snr_db


def test_block_processing_equals_whole_file_processing(loaded, speech):
    long = np.tile(speech, 3) * 0.7
    # the model runs in float32, whose kernels may round differently for other batch sizes: float32 precision
    whole = sdm.resynthesise(loaded, long, block_frames=10**9)
    for block in (1, 7, 64):
        np.testing.assert_allclose(sdm.resynthesise(loaded, long, block_frames=block), whole, rtol=0, atol=1e-6)
        blocked = sdm.encode(loaded, long, block_frames=block)
        np.testing.assert_allclose(blocked.codes, sdm.encode(loaded, long).codes, rtol=1e-4, atol=1e-4)


def test_resynthesis_keeps_length_and_scales_with_the_input(loaded, speech):
    out = sdm.resynthesise(loaded, speech)
    assert out.shape == speech.shape and np.isfinite(out).all()
    np.testing.assert_allclose(sdm.resynthesise(loaded, 0.25 * speech), 0.25 * out, atol=1e-9)


def test_resynthesis_with_codes_equals_the_two_calls(loaded, speech):
    out, encoding = sdm.resynthesise_with_codes(loaded, speech, block_frames=16)
    np.testing.assert_allclose(out, sdm.resynthesise(loaded, speech), atol=1e-6)
    np.testing.assert_allclose(encoding.codes, sdm.encode(loaded, speech).codes, atol=1e-4)


def test_encode_and_decode_shapes(loaded, speech):
    encoding = sdm.encode(loaded, speech)
    frames = 1 + -(-len(speech) // 256)
    assert encoding.codes.shape == (frames, 16) and encoding.z.shape == (frames, 8)
    assert ((encoding.hoyer >= 0) & (encoding.hoyer <= 1)).all()
    assert sdm.decode(loaded, encoding.z).shape == (frames, 513)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(tiny_model, speech):
    cpu = sdm.load_model(str(tiny_model), device="cpu")
    gpu = sdm.load_model(str(tiny_model), device="cuda")
    np.testing.assert_allclose(sdm.resynthesise(gpu, speech), sdm.resynthesise(cpu, speech), atol=1e-4)
    np.testing.assert_allclose(sdm.encode(gpu, speech).codes, sdm.encode(cpu, speech).codes, atol=1e-3)


def test_cuda_request_without_a_gpu_is_a_clear_error(tiny_model, monkeypatch):
    import torch

    from sdmresynth.errors import UserError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device") as error:
        sdm.load_model(str(tiny_model), device="cuda")
    assert "device 'cuda'" in str(error.value) and "--device" not in str(error.value)  # the caller's argument
    assert sdm.load_model(str(tiny_model), device="auto").device.type == "cpu"


@pytest.mark.parametrize("samples, message", [(np.zeros((1600, 2)), "mix the channels first"),
                                              (np.array(["a", "b"]), "a mono signal of numbers"),
                                              (np.full(1600, np.nan), "NaN or infinite")])
def test_signals_the_library_cannot_take_are_a_clear_value_error(loaded, samples, message):
    for function in (sdm.resynthesise, sdm.encode, sdm.enhance):
        with pytest.raises(ValueError, match=message):
            function(loaded, samples)


def test_decoding_checks_its_inputs(loaded):
    latent, atoms = loaded.model.config.latent_dim, loaded.model.config.code_dim
    with pytest.raises(ValueError, match=rf"z: expected \(frames, {latent}\)"):
        sdm.decode(loaded, np.zeros((10, latent + 1)))
    with pytest.raises(ValueError, match="codes: contain NaN"):
        sdm.decode_codes(loaded, np.full((64, atoms), np.nan), 16000)
    with pytest.raises(ValueError, match="phase_from: expected a mono signal"):
        sdm.decode_codes(loaded, np.zeros((64, atoms)), 16000, phase_from=np.zeros((16000, 2)))


def test_decode_with_the_input_phase_equals_resynthesis(loaded, speech):
    codes = sdm.encode(loaded, speech).codes
    decoded = sdm.decode_codes(loaded, codes, len(speech), float(np.abs(speech).max()), phase_from=speech,
                               block_frames=50)  # blocks: the same result as one pass
    assert snr_db(sdm.resynthesise(loaded, speech), decoded) > 100


def test_decode_without_phase_has_the_length_and_level(tmp_path, loaded, speech):
    codes = sdm.encode(loaded, speech).codes
    out = sdm.decode_codes(loaded, codes, len(speech), peak=0.5, iterations=5)
    assert len(out) == len(speech) and np.isfinite(out).all() and 0 < np.abs(out).max() < 5
