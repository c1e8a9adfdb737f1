import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from sdmresynth.cli import main

from .conftest import COMMAND, SPEECH


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def folder_of(folder, clips):
    """A folder holding copies of clips ({name: source}), for commands that take --data."""
    folder.mkdir()
    for name, source in clips.items():
        shutil.copy(source, folder / name)
    return folder


def test_encode_writes_codes_and_json_summary(tmp_path, tiny_model):
    out = tmp_path / "codes.npz"
    result = run("encode", SPEECH, "-o", out, "-m", tiny_model, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with np.load(out) as codes:
        assert codes["codes"].shape == (summary["frames"], 16) and codes["z"].shape == (summary["frames"], 8)
        assert int(codes["hop"]) == 256 and int(codes["sample_rate"]) == 16000
        assert summary["hoyer"] == pytest.approx(codes["hoyer"].mean())
    assert {"hoyer", "frames", "atoms", "model"} <= set(summary) and summary["atoms"] == 16


def test_encode_refuses_an_output_that_is_not_named_npz(tmp_path, tiny_model):
    result = run("encode", SPEECH, "-o", tmp_path / "codes.txt", "-m", tiny_model)
    assert result.exit_code == 1 and "codes are written as an .npz archive" in result.output
    assert not list(tmp_path.iterdir())


def test_encode_prints_a_readable_summary(tmp_path, tiny_model):
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model)
    assert result.exit_code == 0 and "Hoyer" in result.output and "most active atoms" in result.output


def test_resynth_keeps_length_and_level(tmp_path, tiny_model, speech):
    out = tmp_path / "out.wav"
    result = run("resynth", SPEECH, out, "-m", tiny_model)
    assert result.exit_code == 0, result.output
    data, rate = sf.read(out)
    assert rate == 16000 and len(data) == len(speech)
    assert 0.1 < np.max(np.abs(data)) / np.max(np.abs(speech)) < 10


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


def test_resynth_refuses_to_overwrite_its_input(tmp_path, tiny_model):
    source = tmp_path / "in.wav"
    shutil.copy(SPEECH, source)
    before = source.read_bytes()
    result = run("resynth", source, source, "-m", tiny_model)
    assert result.exit_code != 0 and "--overwrite" in result.output
    assert source.read_bytes() == before
    assert run("resynth", source, source, "-m", tiny_model, "--overwrite").exit_code == 0


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


def test_score_reports_table_json_csv_and_failures(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH})
    sf.write(data / "silent.wav", np.zeros(16000), 16000)
    csv = tmp_path / "rows.csv"
    result = run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--json", "--csv", csv)
    assert result.exit_code == 1, result.output  # one file failed: the batch goes on, the exit status says so
    payload = json.loads(result.output[result.output.index("{"):])
    (model,) = payload["models"]
    assert model["files"] == 1 and model["failed"] == 1
    assert {"pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "hoyer"} <= set(model)
    assert "silence" in model["failures"][0]["reason"]
    assert csv.read_text().splitlines()[0].startswith("model,file,pesq_wb,pesq_nb")


def test_train_on_a_directory_then_resume(tmp_path):
    data = tmp_path / "corpus"
    for speaker, clip in (("s1", SPEECH), ("s2", COMMAND)):
        (data / speaker).mkdir(parents=True)
        shutil.copy(clip, data / speaker / clip.name)
    (data / "s1" / "broken.wav").write_text("not audio")
    out = tmp_path / "m.pt"
    args = ["train", "--data", data, "--out", out, "-L", "8", "-K", "16", "--hidden-dim", "16", "--no-cache"]
    result = run(*args, "--max-epochs", "1")
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "broken.wav" in result.output
    assert run(*args, "--max-epochs", "1").exit_code == 1  # refuses to overwrite
    result = run(*args, "--max-epochs", "2", "--resume")
    assert result.exit_code == 0 and "epoch    2" in result.output


def test_train_without_audio_is_a_user_error(tmp_path):
    result = run("train", "--data", tmp_path, "--out", tmp_path / "m.pt")
    assert result.exit_code == 1 and "no audio files" in result.output


def test_help_and_models_do_not_import_torch():
    for args in (["--help"], ["models"], ["models", "--json"]):
        code = ("import sys; from sdmresynth.cli import main\n"
                f"try: main({args!r})\nexcept SystemExit: pass\n"
                "assert 'torch' not in sys.modules, 'torch imported'")
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr


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


def test_batch_encode_json(tmp_path, tiny_model):
    out = tmp_path / "codes"
    result = run("encode", SPEECH, COMMAND, "-o", out, "-m", tiny_model, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index('{"files"'):].splitlines()[0])
    assert len(payload["files"]) == 2 and payload["failed"] == []
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem + ".codes.npz" for p in (SPEECH, COMMAND))


def test_batch_refuses_colliding_outputs(tmp_path, tiny_model):
    (tmp_path / "x").mkdir()
    shutil.copy(SPEECH, tmp_path / "x" / "clip.wav")
    shutil.copy(COMMAND, tmp_path / "clip.flac")
    result = run("resynth", tmp_path / "x" / "clip.wav", tmp_path / "clip.flac", tmp_path / "out", "-m", tiny_model)
    assert result.exit_code == 1 and "would be written there" in result.output


def test_encode_plot_draws_a_png(tmp_path, tiny_model):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "codes.png"
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model, "--plot", picture)
    assert result.exit_code == 0, result.output
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, tiny_model, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model, "--plot", tmp_path / "p.png")
    assert result.exit_code == 1 and "pip install 'sdmresynth[plot]'" in result.output


def test_score_plot(tmp_path, tiny_model):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "scores.png"
    result = run("score", "-m", tiny_model, "--data", SPEECH.parent, "--workers", "1", "--plot", picture)
    assert result.exit_code == 0, result.output
    assert picture.read_bytes()[:4] == b"\x89PNG"


def test_score_resume_keeps_earlier_rows_and_scores_the_rest(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH, "b.wav": COMMAND})
    rows = tmp_path / "rows.csv"
    assert run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--csv", rows).exit_code == 0
    lines = rows.read_text().splitlines()
    assert len(lines) == 3
    # an interrupted run: only the first file's row, with a recognisable value, and a torn last line
    first = lines[1].split(",")
    first[2] = "1.2345"
    rows.write_text("\n".join([lines[0], ",".join(first), lines[2][:10]]))
    result = run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--csv", rows, "--resume", "--json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.output[result.output.index('{"models"'):])["models"]
    assert model["files"] == 2
    kept = [line for line in rows.read_text().splitlines() if "1.2345" in line]
    assert len(kept) == 1  # the earlier row was not scored again
    assert run("score", "-m", tiny_model, "--data", data, "--resume").exit_code == 1


def test_score_in_two_workers_largest_file_first_models_in_given_order(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a_short.wav": COMMAND, "b_long.wav": SPEECH})
    second = tmp_path / "another.pt"
    shutil.copy(tiny_model, second)
    rows = tmp_path / "rows.csv"
    result = run("score", "-m", second, "-m", tiny_model, "--data", data, "--workers", "2", "--csv", rows, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index('{"models"'):])
    assert [m["name"] for m in payload["models"]] == ["another", "tiny"]
    files = [line.split(",")[1] for line in rows.read_text().splitlines()[1:]]
    assert [f.endswith("b_long.wav") for f in files] == [True, True, False, False]


def test_score_out_dir_keeps_files_of_the_same_name_apart(tmp_path, tiny_model):
    for folder, clip in (("a", SPEECH), ("b", COMMAND)):
        (tmp_path / folder).mkdir()
        shutil.copy(clip, tmp_path / folder / "x.wav")
    (tmp_path / "list.txt").write_text("a/x.wav\nb/x.wav\n")
    result = run("score", "-m", tiny_model, "--list", tmp_path / "list.txt", "--out-dir", tmp_path / "out",
                 "--workers", "1")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.wav"))
    assert [p.parts[1:] for p in written] == [("a", "x.wav"), ("b", "x.wav")]
    assert sf.info(tmp_path / "out" / written[0]).frames != sf.info(tmp_path / "out" / written[1]).frames
