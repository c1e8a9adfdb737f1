import numpy as np
import pytest
import soundfile as sf

import sdmresynth.api as sdm
from sdmresynth.errors import UserError
from sdmresynth.io.audio import read_audio, write_audio

from ..conftest import SPEECH


def test_write_audio_refuses_what_it_cannot_write_and_leaves_nothing(tmp_path):
    from sdmresynth.errors import UserError

    with pytest.raises(UserError, match="NaN or infinite"):
        sdm.write_audio(tmp_path / "out.wav", np.full(100, np.nan), 16000)
    with pytest.raises(UserError, match="a sample rate of 0 Hz"):
        sdm.write_audio(tmp_path / "out.wav", np.zeros(100), 0)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_other_rates_are_resampled_to_16k(tmp_path, speech, rate):
    from scipy.signal import resample_poly

    path = tmp_path / "in.wav"
    sf.write(path, resample_poly(speech, rate, 16000) * 0.5, rate, subtype="FLOAT")
    audio = read_audio(path)
    assert audio.sample_rate == 16000 and audio.source_rate == rate
    assert abs(len(audio.samples) - len(speech)) <= 1
    assert any("resampled" in n for n in audio.notices)


def test_stereo_is_mixed_to_mono_with_a_notice(tmp_path, speech):
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([speech, 0.5 * speech], axis=1), 16000, subtype="PCM_24")
    audio = read_audio(path)
    np.testing.assert_allclose(audio.samples, 0.75 * speech, atol=1e-6)
    assert any("mono" in n for n in audio.notices)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"this is not audio at all", "not a readable audio file"),
])
def test_bad_files_give_a_one_line_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        read_audio(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(UserError, match="is a directory"):
        read_audio(tmp_path)


def test_non_finite_samples_are_refused(tmp_path):
    path = tmp_path / "nan.wav"
    signal = np.zeros(1600)
    signal[10] = np.nan
    sf.write(path, signal, 16000, subtype="FLOAT")
    with pytest.raises(UserError, match="NaN"):
        read_audio(path)


def test_write_is_atomic_and_clips(tmp_path):
    path = tmp_path / "out.wav"
    clipped = write_audio(path, np.array([0.0, 0.5, 1.5, -2.0]), 16000)
    assert clipped == 2
    data, rate = sf.read(path)
    assert rate == 16000 and data.max() <= 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_write_into_a_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_audio(tmp_path / "missing" / "out.wav", np.zeros(10), 16000)


def test_real_clip_reads_unchanged():
    audio = read_audio(SPEECH)
    data, _ = sf.read(SPEECH)
    np.testing.assert_array_equal(audio.samples, data)
    assert audio.notices == []


def test_outputs_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_audio(tmp_path / "new.wav", np.zeros(10), 16000)
        assert (tmp_path / "new.wav").stat().st_mode & 0o777 == 0o644
        (tmp_path / "new.wav").chmod(0o640)
        write_audio(tmp_path / "new.wav", np.zeros(10), 16000)
        assert (tmp_path / "new.wav").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
