"""`sdmresynth score`: the table, JSON and CSV, resuming, workers, resyntheses, the report, and what it refuses."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from ..conftest import COMMAND, SPEECH, assert_clean_failure, folder_of, run, snapshot


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


def test_score_with_a_csv_that_cannot_be_written(tmp_path, tiny_model):
    (tmp_path / "scores.csv").mkdir()  # a folder where the file should go
    result = run("score", "-m", tiny_model, "--data", SPEECH.parent, "--csv", tmp_path / "scores.csv", "--workers", "1")
    assert_clean_failure(result, "scores.csv: cannot write")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 8)  # --resume from a file that is not a score table
    result = run("score", "-m", tiny_model, "--data", SPEECH.parent, "--csv", tmp_path / "binary.csv", "--resume",
                 "--workers", "1")
    assert_clean_failure(result, "not a score table of sdmresynth")


def test_score_never_writes_over_its_inputs(tmp_path, tiny_model):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SPEECH, data / "a.wav")
    (tmp_path / "list.txt").write_text("data/a.wav\n")
    model = tmp_path / "model.pt"
    shutil.copy(tiny_model, model)
    cases = [  # each output option pointed at an input, or at another output
        (["--csv", tmp_path / "list.txt"], "list.txt: would overwrite an input of this run: give another file (--csv)"),
        (["--report", tmp_path / "list.txt"], "list.txt: would overwrite an input of this run: give another file (--report)"),
        (["--csv", data / "a.wav"], "a.wav: would overwrite an input of this run: give another file (--csv)"),
        (["--report", model], "model.pt: would overwrite an input of this run: give another file (--report)"),
        (["--csv", tmp_path / "out.csv", "--report", tmp_path / "out.csv"], "would overwrite the csv output of this run: give another file (--report)"),
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
                         "would overwrite this input: give another folder (--out-dir)")
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


def test_score_report_names_the_command_and_the_checkpoint_shape(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH})
    report = tmp_path / "results.md"
    result = run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--report", report)
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert f"`sdmresynth score --model {tiny_model} --data {data} --workers 1 --report {report}`" in text
    assert "| tiny | 8 | 16 |" in text


def test_score_table_keeps_names_whole_and_says_n_a_for_one_file(tmp_path, tiny_model):
    long_name = tmp_path / "sdm-vae-log-dct-l64-k256-libri-so762-finetuned.pt"
    shutil.copy(tiny_model, long_name)
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH})
    result = run("score", "-m", long_name, "--data", data, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert long_name.stem in result.output and "pesq_wb" in result.output and "si_sdr" in result.output
    assert "± n/a" in result.output and "nan" not in result.output


def test_score_help_states_the_workers_default():
    assert "default: 0" in run("score", "--help").output


def test_score_never_replaces_an_earlier_runs_rows_unless_asked(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH})
    table = tmp_path / "scores.csv"
    assert run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--csv", table).exit_code == 0
    before = table.read_text()
    assert_clean_failure(run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--csv", table),
                         "scores.csv: already holds the scores of an earlier run", "(--resume, --overwrite, --csv)")
    assert table.read_text() == before
    result = run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--csv", table, "--overwrite")
    assert result.exit_code == 0 and table.read_text().count("\n") == before.count("\n")
