"""`sdmresynth decode`: codes back to sound, edits, and hostile codes files."""

import shutil

import numpy as np
import pytest
import soundfile as sf

import sdmresynth.api as sdm

from ..conftest import COMMAND, SPEECH, assert_clean_failure, run, snr_db


def test_cli_encode_then_decode_matches_resynth(tmp_path, tiny_model):
    codes, resynth, decoded = tmp_path / "c.codes.npz", tmp_path / "r.wav", tmp_path / "d.wav"
    assert run("encode", SPEECH, "-o", codes, "-m", tiny_model).exit_code == 0
    assert run("resynth", SPEECH, resynth, "-m", tiny_model).exit_code == 0
    result = run("decode", codes, decoded, "--phase-from", SPEECH)  # the model is the one the file names
    assert result.exit_code == 0, result.output
    assert snr_db(sf.read(resynth)[0], sf.read(decoded)[0]) >= 40


def test_decode_into_a_new_folder_takes_the_codes_files_name(tmp_path, tiny_model):
    codes = tmp_path / "clip.codes.npz"
    assert run("encode", SPEECH, "-o", codes, "-m", tiny_model).exit_code == 0
    result = run("decode", codes, f"{tmp_path / 'sound'}/", "--phase-from", SPEECH, "--iterations", "2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sound" / "clip.wav").is_file()


def test_decode_never_replaces_the_phase_recording_unless_asked(tmp_path, tiny_model):
    recording, codes = tmp_path / "take.wav", tmp_path / "take.codes.npz"
    shutil.copy(SPEECH, recording)
    assert run("encode", recording, "-o", codes, "-m", tiny_model).exit_code == 0
    original = recording.read_bytes()
    assert_clean_failure(run("decode", codes, recording, "--phase-from", recording), "pass --overwrite to replace it")
    assert recording.read_bytes() == original
    assert run("decode", codes, recording, "--phase-from", recording, "--overwrite").exit_code == 0
    assert recording.read_bytes() != original


def test_editing_the_codes_changes_the_sound(tmp_path, tiny_model):
    codes = tmp_path / "c.codes.npz"
    assert run("encode", SPEECH, "-o", codes, "-m", tiny_model).exit_code == 0
    outputs = {}
    for name, edit in (("plain", []), ("muted", ["--mute-atoms", "0-7"]), ("top", ["--keep-top", "1"])):
        result = run("decode", codes, tmp_path / f"{name}.wav", "--phase-from", SPEECH, *edit)
        assert result.exit_code == 0, result.output
        outputs[name] = sf.read(tmp_path / f"{name}.wav")[0]
    assert snr_db(outputs["plain"], outputs["muted"]) < 30 and snr_db(outputs["plain"], outputs["top"]) < 30


def _rewrite(source, target, **changes):
    with np.load(source) as data:
        values = {k: data[k] for k in data.files}
    values.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del values[key]
    np.savez(target, **values)


def test_hostile_codes_files_get_one_line_errors(tmp_path, tiny_model):
    codes = tmp_path / "c.codes.npz"
    assert run("encode", SPEECH, "-o", codes, "-m", tiny_model).exit_code == 0
    with np.load(codes) as data:
        good = data["codes"]
    cases = {
        "shape.npz": ({"codes": good[:, :5]}, "codes have 5 atoms"),
        "frames.npz": ({"codes": good[:-3]}, "do not fit a signal"),
        "nan.npz": ({"codes": np.where(good == good[0, 0], np.nan, good)}, "NaN"),
        "missing.npz": ({"model_sha256": None}, "lacks model_sha256"),
        "other-model.npz": ({"model_sha256": "0" * 64}, "made by another model"),
        "old.npz": ({"format": None}, "re-encode"),
    }
    for name, (changes, message) in cases.items():
        _rewrite(codes, tmp_path / name, **changes)
        assert_clean_failure(run("decode", tmp_path / name, tmp_path / "o.wav", "-m", tiny_model), message)
    assert_clean_failure(run("decode", SPEECH, tmp_path / "o.wav", "-m", tiny_model), "not a codes file")
    assert_clean_failure(run("decode", tmp_path / "none.npz", tmp_path / "o.wav"), "no such codes file")
    assert_clean_failure(run("decode", codes, tmp_path / "o.wav", "-m", "vae-l64"), "made by another model")
    assert_clean_failure(run("decode", codes, tmp_path / "o.wav", "--phase-from", COMMAND), "give the recording")
    assert_clean_failure(run("decode", codes, tmp_path / "o.mp3x"), "unknown output format")
    assert not (tmp_path / "o.wav").exists()


def test_decode_keeps_the_encoded_peak_unless_asked_and_says_when_an_edit_changes_nothing(tmp_path, tiny_model):
    codes = tmp_path / "c.npz"
    assert run("encode", SPEECH, "-o", codes, "-m", tiny_model).exit_code == 0
    loud = tmp_path / "loud.npz"
    _rewrite(codes, loud, codes=np.load(codes)["codes"] * 4)
    peak = np.max(np.abs(sf.read(SPEECH)[0]))
    result = run("decode", loud, tmp_path / "peak.wav", "--phase-from", SPEECH)
    assert result.exit_code == 0 and "clipped" not in result.output, result.output
    assert np.max(np.abs(sf.read(tmp_path / "peak.wav")[0])) == pytest.approx(peak, abs=1 / 32768)
    as_is = run("decode", loud, tmp_path / "as-is.wav", "--phase-from", SPEECH, "--level", "as-is", "--float")
    assert as_is.exit_code == 0, as_is.output
    decoded = sdm.decode_codes_file(sdm.load_model(str(tiny_model), "cpu"), sdm.read_codes(loud), sf.read(SPEECH)[0])
    np.testing.assert_allclose(sf.read(tmp_path / "as-is.wav")[0], decoded, atol=1e-6)  # the level the codes give
    result = run("decode", codes, tmp_path / "all.wav", "--phase-from", SPEECH, "--keep-top", 999)
    assert result.exit_code == 0 and "keeps them all: the codes are unchanged" in result.output
