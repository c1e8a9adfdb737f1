"""Where every command writes: formats by suffix, folder targets as `cp` has them, never over an input, nothing
half-written."""

import errno
import shutil

import pytest
import soundfile as sf

from ..conftest import COMMAND, SPEECH, assert_clean_failure, folder_of, run, snapshot


def test_resynth_refuses_to_overwrite_its_input(tmp_path, tiny_model):
    source = tmp_path / "in.wav"
    shutil.copy(SPEECH, source)
    before = source.read_bytes()
    result = run("resynth", source, source, "-m", tiny_model)
    assert result.exit_code != 0 and "--overwrite" in result.output
    assert source.read_bytes() == before
    assert run("resynth", source, source, "-m", tiny_model, "--overwrite").exit_code == 0


def test_batch_refuses_colliding_outputs(tmp_path, tiny_model):
    (tmp_path / "x").mkdir()
    shutil.copy(SPEECH, tmp_path / "x" / "clip.wav")
    shutil.copy(COMMAND, tmp_path / "clip.flac")
    result = run("resynth", tmp_path / "x" / "clip.wav", tmp_path / "clip.flac", tmp_path / "out", "-m", tiny_model)
    assert result.exit_code == 1 and "would be written there" in result.output


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


@pytest.mark.parametrize("suffix, file_format, subtype", [(".wav", "WAV", "PCM_16"), (".flac", "FLAC", "PCM_16"),
                                                         (".ogg", "OGG", "VORBIS")])
def test_output_format_follows_the_suffix(tmp_path, tiny_model, suffix, file_format, subtype):
    out = tmp_path / f"out{suffix}"
    assert run("resynth", SPEECH, out, "-m", tiny_model).exit_code == 0
    info = sf.info(out)
    assert (info.format, info.subtype) == (file_format, subtype)


def test_unknown_output_suffix_is_refused_before_any_work(tmp_path):
    result = run("resynth", SPEECH, tmp_path / "out.mp4", "-m", "no-such-model")  # the model is never looked up
    assert result.exit_code == 1 and "unknown output format '.mp4'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_folder_targets_behave_like_cp(tmp_path, tiny_model):
    existing = tmp_path / "existing"
    existing.mkdir()
    assert run("resynth", SPEECH, existing, "-m", tiny_model).exit_code == 0
    assert (existing / f"{SPEECH.stem}.wav").is_file()
    result = run("resynth", SPEECH, f"{tmp_path / 'new'}/", "-m", tiny_model)  # a trailing slash: a folder
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / f"{SPEECH.stem}.wav").is_file()
    assert run("encode", SPEECH, "-o", f"{tmp_path / 'codes'}/", "-m", tiny_model).exit_code == 0
    assert (tmp_path / "codes" / f"{SPEECH.stem}.codes.npz").is_file()


def test_folder_input_or_several_inputs_need_a_folder_target(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH})
    for args in (["resynth", data, tmp_path / "out.wav"], ["resynth", SPEECH, COMMAND, tmp_path / "out.flac"],
                 ["encode", data, "-o", tmp_path / "codes.npz"]):
        result = run(*args, "-m", tiny_model)
        assert result.exit_code == 1 and "need an output folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing was created


def test_a_target_without_suffix_that_does_not_exist_asks_for_a_file_or_a_folder(tmp_path, tiny_model):
    assert_clean_failure(run("resynth", SPEECH, tmp_path / "missingdir", "-m", tiny_model),
                         "missingdir: has no suffix to name its format", "or a folder with a trailing /")
    assert not (tmp_path / "missingdir").exists()


def test_mp3_is_written_where_libsndfile_can(tmp_path, tiny_model):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile writes no MP3 (it needs 1.1 or later)")
    result = run("resynth", SPEECH, tmp_path / "out.mp3", "-m", tiny_model)
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "out.mp3").format == "MP3"
