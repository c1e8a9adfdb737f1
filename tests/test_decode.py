"""decode: codes back to sound, with the input's phase or a reconstructed one, after editing the codes."""

import shutil

import numpy as np
import pytest
import soundfile as sf

import sdmresynth.api as sdm
from sdmresynth.codes import keep_top, mute_atoms, parse_atoms
from sdmresynth.errors import UserError

from .conftest import COMMAND, SPEECH
from .test_cli import run
from .test_hostile import assert_clean_failure


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-30)))


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return sdm.load_model(str(tiny_model), device="cpu")


def test_decode_with_the_input_phase_equals_resynthesis(loaded, speech):
    codes = sdm.encode(loaded, speech).codes
    decoded = sdm.decode_codes(loaded, codes, len(speech), float(np.abs(speech).max()), phase_from=speech,
                               block_frames=50)  # blocks: the same result as one pass
    assert snr_db(sdm.resynthesise(loaded, speech), decoded) > 100


def test_cli_encode_then_decode_matches_resynth(tmp_path, tiny_model):
    codes, resynth, decoded = tmp_path / "c.codes.npz", tmp_path / "r.wav", tmp_path / "d.wav"
    assert run("encode", SPEECH, "-o", codes, "-m", tiny_model).exit_code == 0
    assert run("resynth", SPEECH, resynth, "-m", tiny_model).exit_code == 0
    result = run("decode", codes, decoded, "--phase-from", SPEECH)  # the model is the one the file names
    assert result.exit_code == 0, result.output
    assert snr_db(sf.read(resynth)[0], sf.read(decoded)[0]) >= 40


def test_fast_griffin_lim_recovers_intelligible_speech(speech):
    from pystoi import stoi

    from sdmresynth.phase import griffin_lim
    from sdmresynth.stft import stft

    reference = speech / np.abs(speech).max()
    rebuilt = griffin_lim(np.abs(stft(reference)), len(reference))
    assert len(rebuilt) == len(reference) and np.isfinite(rebuilt).all()
    assert stoi(reference, rebuilt, 16000) >= 0.85


def test_griffin_lim_in_blocks_is_the_whole_computation_with_bounded_memory(speech):
    import tracemalloc

    from sdmresynth.phase import griffin_lim
    from sdmresynth.stft import stft

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


def test_decode_without_phase_has_the_length_and_level(tmp_path, loaded, speech):
    codes = sdm.encode(loaded, speech).codes
    out = sdm.decode_codes(loaded, codes, len(speech), peak=0.5, iterations=5)
    assert len(out) == len(speech) and np.isfinite(out).all() and 0 < np.abs(out).max() < 5


def test_keep_top_keeps_the_largest_of_each_frame():
    codes = np.array([[0.1, -3.0, 2.0, 0.5], [1.0, 0.0, -0.2, 4.0]], np.float32)
    np.testing.assert_array_equal(keep_top(codes, 2), [[0, -3.0, 2.0, 0], [1.0, 0, 0, 4.0]])
    np.testing.assert_array_equal(keep_top(codes, 9), codes)
    with pytest.raises(UserError):
        keep_top(codes, 0)


def test_mute_atoms_and_their_parsing():
    codes = np.ones((3, 5), np.float32)
    assert mute_atoms(codes, parse_atoms("0, 2-3")).sum(axis=0).tolist() == [0, 3, 0, 0, 3]
    with pytest.raises(UserError, match="out of range"):
        mute_atoms(codes, [5])
    for text in ("3x", "5-2", "-3"):  # not a number, a range that goes down, a negative atom
        with pytest.raises(UserError, match="expected atom numbers"):
            parse_atoms(text)
    with pytest.raises(UserError, match="names no atom"):
        parse_atoms(" , ")


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
