"""Hostile input and faults on every command: a correct output, or one line naming the problem and a
non-zero exit; never a traceback, a partial output or a changed input."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from sdmresynth.cli import main

from .conftest import COMMAND, SPEECH


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_failure(result, *needles):
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip().count("\n") == 0, result.output
    for needle in needles:
        assert needle in result.output, result.output


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- broken files -----------------------------------------------------------------------------------------------

def _broken_files(folder):
    speech, rate = sf.read(SPEECH)
    sf.write(folder / "full.wav", speech, rate)
    sf.write(folder / "full.flac", speech, rate)
    wav, flac = (folder / "full.wav").read_bytes(), (folder / "full.flac").read_bytes()
    files = {
        "empty.wav": b"",
        "header-only.wav": wav[:44],
        "header-only.flac": flac[:100],
        "truncated.flac": flac[: len(flac) // 2],
        "text.wav": b"hello, this is not audio\n",
        "image.wav": b"\x89PNG\r\n\x1a\n" + bytes(200),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    sf.write(folder / "zero-length.wav", np.zeros(0), 16000)
    sf.write(folder / "nan.wav", np.array([0.0, np.nan, 0.1]), 16000, subtype="FLOAT")
    sf.write(folder / "inf.wav", np.array([0.0, np.inf, 0.1]), 16000, subtype="DOUBLE")
    (folder / "full.wav").unlink()
    (folder / "full.flac").unlink()
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    return _broken_files(tmp_path_factory.mktemp("broken"))


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


def test_score_with_a_csv_that_cannot_be_written(tmp_path, tiny_model):
    (tmp_path / "scores.csv").mkdir()  # a folder where the file should go
    result = run("score", "-m", tiny_model, "--data", SPEECH.parent, "--csv", tmp_path / "scores.csv", "--workers", "1")
    assert_clean_failure(result, "scores.csv: cannot write")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 8)  # --resume from a file that is not a score table
    result = run("score", "-m", tiny_model, "--data", SPEECH.parent, "--csv", tmp_path / "binary.csv", "--resume",
                 "--workers", "1")
    assert_clean_failure(result, "not a score table that --csv wrote")


def test_score_never_writes_over_its_inputs(tmp_path, tiny_model):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SPEECH, data / "a.wav")
    (tmp_path / "list.txt").write_text("data/a.wav\n")
    model = tmp_path / "model.pt"
    shutil.copy(tiny_model, model)
    cases = [  # each output option pointed at an input, or at another output
        (["--csv", tmp_path / "list.txt"], "list.txt: --csv would overwrite an input"),
        (["--report", tmp_path / "list.txt"], "list.txt: --report would overwrite an input"),
        (["--csv", data / "a.wav"], "a.wav: --csv would overwrite an input"),
        (["--report", model], "model.pt: --report would overwrite an input"),
        (["--csv", tmp_path / "out.csv", "--report", tmp_path / "out.csv"], "would overwrite the --csv output"),
    ]
    before = snapshot(tmp_path), snapshot(data)
    for args, needle in cases:
        assert_clean_failure(run("score", "-m", model, "--list", tmp_path / "list.txt", *args, "--workers", "1"),
                             needle)
    for command in (["score", "-m", model, "--list", tmp_path / "list.txt"], ["encode", data / "a.wav", "-m", model]):
        for picture in (data / "a.wav", tmp_path / "list.txt", model):  # a PNG under an input's name
            assert_clean_failure(run(*command, "--plot", picture), "pictures are written as PNG")
    # scoring an earlier run's resyntheses (out/MODEL/...) with that same --out-dir would replace them
    earlier = tmp_path / "out" / "model"
    earlier.mkdir(parents=True)
    shutil.copy(SPEECH, earlier / "a.wav")
    assert_clean_failure(run("score", "-m", model, "--data", earlier, "--out-dir", tmp_path / "out", "--workers", "1"),
                         "--out-dir would overwrite this input")
    assert (earlier / "a.wav").read_bytes() == SPEECH.read_bytes()
    assert (snapshot(tmp_path), snapshot(data)) == before


def test_score_lists_broken_files_and_goes_on(tmp_path, tiny_model, broken):
    data = tmp_path / "data"
    data.mkdir()
    for source in broken:
        shutil.copy(source, data / source.name)
    shutil.copy(SPEECH, data / "good.wav")
    sf.write(data / "silence.wav", np.zeros(16000), 16000)
    result = run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--json")
    assert result.exit_code == 1, result.output  # the batch went on; the exit status says files failed
    (model,) = json.loads(result.output[result.output.index('{"models"'):])["models"]
    assert model["files"] == 1 and model["failed"] == len(broken) + 1
    reasons = {os.path.basename(f["file"]): f["reason"] for f in model["failures"]}
    assert not any(reason.startswith(str(data)) for reason in reasons.values())  # each failure names its file once
    assert "PESQ" in reasons["silence.wav"] and "not a readable audio file" in reasons["text.wav"]


def test_train_skips_and_lists_unreadable_files(tmp_path, broken):
    corpus = tmp_path / "corpus"
    for speaker, clip in (("a", SPEECH), ("b", COMMAND)):
        (corpus / speaker).mkdir(parents=True)
        shutil.copy(clip, corpus / speaker)
    for source in broken[:3]:
        shutil.copy(source, corpus / "a" / source.name)
    result = run("train", "--data", corpus, "--out", tmp_path / "m.pt", "-L", "4", "-K", "4", "--hidden-dim", "8",
                 "--max-epochs", "1", "--no-cache")
    assert result.exit_code == 0, result.output
    assert all(source.name in result.output for source in broken[:3])


# -- odd but valid audio ----------------------------------------------------------------------------------------

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


def test_score_with_mixed_lengths_and_rates(tmp_path, tiny_model):
    speech, _ = sf.read(SPEECH)
    from scipy.signal import resample_poly

    sf.write(tmp_path / "a.wav", speech, 16000)
    sf.write(tmp_path / "b.wav", resample_poly(speech[:20000], 3, 1), 48000)
    sf.write(tmp_path / "c.flac", resample_poly(speech, 1, 2), 8000)
    result = run("score", "-m", tiny_model, "--data", tmp_path, "--workers", "1", "--json")
    assert result.exit_code == 0
    (model,) = json.loads(result.output[result.output.index('{"models"'):])["models"]
    assert model["files"] == 3 and model["failed"] == 0


# -- outputs ------------------------------------------------------------------------------------------------------

def test_output_in_missing_directory(tmp_path, tiny_model):
    assert_clean_failure(run("resynth", SPEECH, tmp_path / "no" / "out.wav", "-m", tiny_model), "does not exist")
    assert_clean_failure(run("encode", SPEECH, "-o", tmp_path / "no" / "c.npz", "-m", tiny_model), "does not exist")


def test_output_in_read_only_directory(tmp_path, tiny_model, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root ignores chmod, so simulate the refusal
    assert_clean_failure(run("resynth", SPEECH, tmp_path / "out.wav", "-m", tiny_model), "Permission denied")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_keeps_the_old_output(tmp_path, tiny_model, monkeypatch):
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous output")

    def full_disk(path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sf, "write", full_disk)
    assert_clean_failure(run("resynth", SPEECH, out, "-m", tiny_model), "No space left")
    assert out.read_bytes() == b"previous output" and [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_output_equal_to_input_is_refused(tmp_path, tiny_model):
    source = tmp_path / "in.wav"
    shutil.copy(SPEECH, source)
    before = snapshot(tmp_path)
    assert_clean_failure(run("resynth", source, source, "-m", tiny_model), "--overwrite")
    assert_clean_failure(run("encode", source, "-o", source, "-m", tiny_model), "input")
    assert snapshot(tmp_path) == before


# -- checkpoints ----------------------------------------------------------------------------------------------

class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _bad_checkpoints(folder, tiny_model):
    good = tiny_model.read_bytes()
    (folder / "truncated.pt").write_bytes(good[: len(good) // 3])
    (folder / "garbage.pt").write_bytes(os.urandom(4096))
    torch.save({"layer.weight": torch.zeros(3)}, folder / "foreign.pt")
    torch.save([1, 2, 3], folder / "list.pt")
    payload = torch.load(tiny_model, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, folder / "newer.pt")
    torch.save({"format": "sdmresynth", "config": _Exploit()}, folder / "evil.pt")
    return sorted(folder.glob("*.pt"))


@pytest.mark.parametrize("command", ["resynth", "encode", "score"])
def test_bad_checkpoints_are_refused(tmp_path, tiny_model, monkeypatch, command):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.chdir(tmp_path)
    for checkpoint in _bad_checkpoints(models, tiny_model):
        args = {"resynth": ["resynth", SPEECH, tmp_path / "o.wav"], "encode": ["encode", SPEECH, "-o", tmp_path / "c.npz"],
                "score": ["score", "--data", SPEECH.parent, "--workers", "1"]}[command]
        result = run(*args, "-m", checkpoint)
        assert_clean_failure(result, str(checkpoint))
        if checkpoint.name == "newer.pt":
            assert "newer" in result.output
        if checkpoint.name == "evil.pt":
            assert "refused" in result.output
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o.wav").exists()


def test_corrupt_model_index_is_a_clean_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SDMRESYNTH_PRETRAINED", str(tmp_path))
    (tmp_path / "index.json").write_text("{not json")
    assert_clean_failure(run("models"), "index.json")


# -- training -----------------------------------------------------------------------------------------------------

def test_train_on_a_folder_without_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    assert_clean_failure(run("train", "--data", tmp_path, "--out", tmp_path / "m.pt"), "no audio files")


def test_train_with_one_speaker_splits_files(tmp_path):
    speaker = tmp_path / "corpus" / "only"
    speaker.mkdir(parents=True)
    for i in range(3):
        shutil.copy(SPEECH, speaker / f"{i}.wav")
    result = run("train", "--data", tmp_path / "corpus", "--out", tmp_path / "m.pt", "-L", "4", "-K", "4",
                 "--hidden-dim", "8", "--max-epochs", "1", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "one speaker" in result.output


def _corpus(folder):
    for i in range(6):
        (folder / f"s{i}").mkdir(parents=True)
        shutil.copy(SPEECH if i % 2 else COMMAND, folder / f"s{i}" / "clip.wav")
    return folder


def _train_command(corpus, out, epochs):
    return [sys.executable, "-m", "sdmresynth.cli", "train", "--data", str(corpus), "--out", str(out), "-L", "8",
            "-K", "16", "--hidden-dim", "32", "--max-epochs", str(epochs), "--no-cache", "--threads", "1"]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, signal_number):
    corpus = _corpus(tmp_path / "corpus")
    epochs = 40
    straight = tmp_path / "straight.pt"
    subprocess.run(_train_command(corpus, straight, epochs), check=True, capture_output=True)

    out = tmp_path / "interrupted.pt"
    state = tmp_path / "interrupted.state.pt"
    # A shell that starts a job in the background (`.ci/run ... &`) makes it ignore SIGINT, and Python then installs
    # no KeyboardInterrupt handler: give the run the default disposition, as in a terminal.
    process = subprocess.Popen(_train_command(corpus, out, epochs), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not state.exists() and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal_number)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0, "training finished before the signal: make the run longer"
    if signal_number == signal.SIGINT:
        assert "--resume" in output and "Traceback" not in output
    assert not out.exists()

    resumed = subprocess.run(_train_command(corpus, out, epochs) + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    a = torch.load(straight, weights_only=True)["state_dict"]
    b = torch.load(out, weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
