"""What every command reads: broken, odd, long, multichannel, low-rate and misnamed inputs give a correct output or one
line that names the file."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from ..conftest import COMMAND, SPEECH, assert_clean_failure, run


@pytest.mark.parametrize("content", [b"", b"RIFF....WAVEfmt ", b"plain text, not audio"])
def test_bad_input_is_one_line_no_traceback_no_output(tmp_path, tiny_model, content):
    source = tmp_path / "bad.wav"
    source.write_bytes(content)
    out = tmp_path / "out.wav"
    result = run("resynth", source, out, "-m", tiny_model)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.output.count("\n") == 1 and str(source) in result.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.wav"]


def test_missing_model_and_file(tmp_path, tiny_model):
    result = run("resynth", tmp_path / "missing.wav", tmp_path / "o.wav", "-m", tiny_model)
    assert result.exit_code == 1 and "no such file" in result.output
    result = run("encode", SPEECH, "-m", "no-such-model")
    assert result.exit_code == 1 and "unknown model" in result.output



@pytest.mark.parametrize("command", ["resynth", "encode"])
def test_broken_files_fail_cleanly_on_every_command(tmp_path, tiny_model, broken, command):
    for source in broken:
        before = source.read_bytes()
        out = tmp_path / ("out.wav" if command == "resynth" else "out.npz")
        args = [command, source, out] if command == "resynth" else [command, source, "-o", out]
        result = run(*args, "-m", tiny_model)
        assert_clean_failure(result, str(source))
        assert not out.exists() and list(tmp_path.iterdir()) == []
        assert source.read_bytes() == before


def test_missing_path_and_directory_without_audio(tmp_path, tiny_model):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("resynth", "encode"):
        extra = [tmp_path / "o.wav"] if command == "resynth" else []
        assert_clean_failure(run(command, tmp_path / "missing.wav", *extra, "-m", tiny_model), "no such file")
        folder_target = [tmp_path / "out"] if command == "resynth" else []
        assert_clean_failure(run(command, empty, *folder_target, "-m", tiny_model), "no audio files")
    (tmp_path / "file.txt").write_text("x")
    assert_clean_failure(run("resynth", SPEECH.parent, tmp_path / "file.txt", "-m", tiny_model), "is a file")


def test_lists_and_folders_that_are_not_what_they_should_be(tmp_path, tiny_model):
    (tmp_path / "notes.txt").write_text("# not a split list\nThis is prose, not a list of audio files.\n")
    cases = [(["--list", tmp_path / "missing.txt"], "no such file or directory"),
             (["--list", SPEECH], "cannot be read as a list of paths"),
             (["--list", tmp_path / "notes.txt"], "none of the 1 files it names exists"),
             (["--data", tmp_path / "missing"], "no such file or directory")]
    for args, needle in cases:
        assert_clean_failure(run("score", "-m", tiny_model, *args, "--workers", "1"), needle)
    assert_clean_failure(run("train", "--data", tmp_path / "missing", "--out", tmp_path / "m.pt"), "no such directory")
    assert_clean_failure(run("train", "--train", tmp_path / "notes.txt", "--val", tmp_path / "notes.txt", "--out",
                             tmp_path / "m.pt"), "none of the 1 files")


@pytest.mark.parametrize("name, make", [
    ("dc-offset", lambda s: s * 0.5 + 0.3),
    ("clipped", lambda s: np.clip(s * 20, -1, 1)),
    ("silence", lambda s: np.zeros_like(s)),
    ("tenth-of-a-second", lambda s: s[:1600]),
])
def test_odd_signals_give_valid_outputs(tmp_path, tiny_model, name, make):
    speech, _ = sf.read(SPEECH)
    source = tmp_path / f"{name}.wav"
    signal_in = make(speech)
    sf.write(source, signal_in, 16000, subtype="FLOAT")
    result = run("resynth", source, tmp_path / "out.wav", "-m", tiny_model)
    assert result.exit_code == 0, result.output
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == 16000 and len(out) == len(signal_in) and np.isfinite(out).all()
    if name == "silence":
        assert not out.any()
    result = run("encode", source, "-o", tmp_path / "c.npz", "-m", tiny_model, "--json")
    assert result.exit_code == 0 and 0 <= json.loads(result.output)["hoyer"] <= 1


@pytest.mark.parametrize("rate", [1, 100, 3999])
def test_a_rate_too_low_for_speech_is_refused(tmp_path, tiny_model, rate):
    source = tmp_path / "in.wav"
    sf.write(source, np.random.default_rng(0).uniform(-0.5, 0.5, 4 * rate), rate)
    assert_clean_failure(run("resynth", source, tmp_path / "out.wav", "-m", tiny_model), f"{rate} Hz is too low")


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_every_common_rate(tmp_path, tiny_model, rate):
    source = tmp_path / "in.wav"
    t = np.arange(rate) / rate
    sf.write(source, 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    result = run("resynth", source, tmp_path / "out.wav", "-m", tiny_model)
    assert result.exit_code == 0 and "resampled" in result.output or rate == 16000
    assert sf.info(tmp_path / "out.wav").frames == 16000


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_sample_formats_and_channel_counts(tmp_path, tiny_model, subtype, channels):
    speech, _ = sf.read(COMMAND)
    source = tmp_path / "in.wav"
    sf.write(source, np.stack([speech] * channels, axis=1), 16000, subtype=subtype)
    result = run("resynth", source, tmp_path / "out.wav", "-m", tiny_model)
    assert result.exit_code == 0, result.output
    assert ("mono" in result.output) == (channels > 1)
    assert sf.info(tmp_path / "out.wav").frames == len(speech)


def test_truncated_wav_is_resynthesised_with_a_notice(tmp_path, tiny_model):
    source = tmp_path / "truncated.wav"
    data = SPEECH.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    result = run("resynth", source, tmp_path / "out.wav", "-m", tiny_model)
    assert result.exit_code == 0 and "truncated" in result.output


def test_sixty_minute_file(tmp_path, tiny_model):
    speech, _ = sf.read(SPEECH)
    repeats = int(np.ceil(3600 * 16000 / len(speech)))
    long = np.tile(speech.astype(np.float32), repeats)[: 3600 * 16000]
    source = tmp_path / "hour.flac"
    sf.write(source, long, 16000)
    result = run("resynth", source, tmp_path / "out.wav", "-m", tiny_model)
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "out.wav").frames == len(long)


def test_non_ascii_and_spaces_in_paths(tmp_path, tiny_model):
    folder = tmp_path / "dossier été 音声"
    folder.mkdir()
    source = folder / "une phrase.wav"
    shutil.copy(SPEECH, source)
    assert run("resynth", source, folder / "sortie é.wav", "-m", tiny_model).exit_code == 0
    assert run("encode", source, "-m", tiny_model).exit_code == 0
    assert (folder / "une phrase.codes.npz").is_file()
    assert run("score", "-m", tiny_model, "--data", folder, "--workers", "1").exit_code == 0
