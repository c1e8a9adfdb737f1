"""`sdmresynth resynth`: length and level kept, conversions, silence, batches."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from ..conftest import COMMAND, SPEECH, assert_clean_failure, run


def test_resynth_keeps_length_and_level(tmp_path, tiny_model, speech):
    out = tmp_path / "out.wav"
    result = run("resynth", SPEECH, out, "-m", tiny_model)
    assert result.exit_code == 0, result.output
    data, rate = sf.read(out)
    assert rate == 16000 and len(data) == len(speech)
    assert np.max(np.abs(data)) == pytest.approx(np.max(np.abs(speech)), abs=1 / 32768)  # the peak, to 16 bits


def test_the_level_is_the_input_peak_its_rms_or_the_models_and_float_keeps_what_would_clip(tmp_path, tiny_model):
    loud = tmp_path / "loud.wav"
    speech, rate = sf.read(SPEECH)
    sf.write(loud, speech / np.max(np.abs(speech)) * 0.99, rate, subtype="FLOAT")  # a peak just under full scale
    for level in ("peak", "rms", "as-is"):
        result = run("resynth", loud, tmp_path / f"{level}.wav", "-m", tiny_model, "--level", level, "--float")
        assert result.exit_code == 0 and "clipped" not in result.output, result.output
    peak, rms, as_is = (sf.read(tmp_path / f"{level}.wav")[0] for level in ("peak", "rms", "as-is"))
    source = sf.read(loud)[0]
    assert np.max(np.abs(peak)) == pytest.approx(np.max(np.abs(source)), rel=1e-6)
    assert np.sqrt(np.mean(rms**2)) == pytest.approx(np.sqrt(np.mean(source**2)), rel=1e-5)
    np.testing.assert_allclose(peak / np.max(np.abs(peak)), as_is / np.max(np.abs(as_is)), atol=1e-6)
    if np.max(np.abs(rms)) > 1:  # 16 bits cannot hold it: clipped, and said
        result = run("resynth", loud, tmp_path / "rms16.wav", "-m", tiny_model, "--level", "rms")
        assert result.exit_code == 0 and "clipped to full scale" in result.output
    assert_clean_failure(run("resynth", loud, tmp_path / "x.flac", "-m", tiny_model, "--float"),
                         "x.flac: .flac keeps no float samples", "(--float)")


def test_resynth_converts_stereo_44k_and_can_keep_the_rate(tmp_path, tiny_model, speech):
    from scipy.signal import resample_poly

    source = tmp_path / "stereo 44k é.wav"
    stereo = resample_poly(speech, 441, 160)
    sf.write(source, np.stack([stereo, stereo], 1), 44100)
    result = run("resynth", source, tmp_path / "a.wav", "-m", tiny_model)
    assert result.exit_code == 0 and "mono" in result.output and "resampled" in result.output
    assert sf.info(tmp_path / "a.wav").samplerate == 16000
    result = run("resynth", source, tmp_path / "b.wav", "-m", tiny_model, "--keep-rate")
    assert result.exit_code == 0
    assert sf.info(tmp_path / "b.wav").samplerate == 44100 and sf.info(tmp_path / "b.wav").frames == len(stereo)


def test_resynth_of_silence_is_silence(tmp_path, tiny_model):
    source = tmp_path / "silence.wav"
    sf.write(source, np.zeros(8000), 16000)
    assert run("resynth", source, tmp_path / "out.wav", "-m", tiny_model).exit_code == 0
    assert not np.any(sf.read(tmp_path / "out.wav")[0])


def test_batch_resynth_keeps_structure_lists_failures_and_uses_workers(tmp_path, tiny_model):
    corpus = tmp_path / "corpus"
    (corpus / "a" / "b").mkdir(parents=True)
    shutil.copy(SPEECH, corpus / "a" / "one.wav")
    shutil.copy(COMMAND, corpus / "a" / "b" / "two.wav")
    (corpus / "a" / "broken.wav").write_text("not audio")
    out = tmp_path / "out"
    result = run("resynth", corpus, out, "-m", tiny_model, "--workers", "2")
    assert result.exit_code == 1  # one input failed
    assert (out / "a" / "one.wav").is_file() and (out / "a" / "b" / "two.wav").is_file()
    assert "broken.wav" in result.output and "wrote 2 of 3 files" in result.output
    assert sf.info(out / "a" / "b" / "two.wav").frames == sf.info(COMMAND).frames


def test_the_encode_time_refinement_can_be_asked_for_or_turned_off(tmp_path, tiny_model):
    import sdmresynth.api as sdm

    assert sdm.load_model(str(tiny_model), "cpu", refine_steps=5).model.config.refine_steps == 5
    for steps in ("0", "5"):
        result = run("resynth", SPEECH, tmp_path / f"r{steps}.wav", "-m", tiny_model, "--refine-steps", steps)
        assert result.exit_code == 0, result.output
    assert not np.array_equal(sf.read(tmp_path / "r0.wav")[0], sf.read(tmp_path / "r5.wav")[0])
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model, "--refine-steps", "5", "--json")
    assert result.exit_code == 0, result.output
