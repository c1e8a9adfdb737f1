"""What a new user meets first: output formats and targets as `cp` has them, training that checks before it reads,
scoring exit codes and tables, and messages in the caller's terms."""

import json
import shutil

import pytest
import soundfile as sf

from sdmresynth.checkpoint import load_checkpoint
from sdmresynth.errors import UserError

from .conftest import COMMAND, SPEECH
from .test_cli import folder_of, run


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


def test_encode_summary_says_where_the_picture_went(capsys):
    from sdmresynth.encoding_cli import print_summary

    print_summary({"file": "a.wav", "output": "a.codes.npz", "model": "m", "model_type": "sdm-vae", "frames": 2,
                   "seconds": 0.1, "atoms": 4, "latent_dim": 2, "hoyer": 0.5, "top_atoms": [], "plot": "pic.png"})
    assert "picture: pic.png" in capsys.readouterr().out


def _corpus(tmp_path):
    data = tmp_path / "corpus"
    for speaker, clip in (("s1", SPEECH), ("s2", COMMAND)):
        (data / speaker).mkdir(parents=True)
        shutil.copy(clip, data / speaker / clip.name)
    return data


TINY = ["-L", "8", "-K", "16", "--hidden-dim", "16", "--no-cache"]


def test_train_creates_the_folder_of_out_and_defaults_to_the_recipe(tmp_path):
    from sdmresynth.checkpoint import load_checkpoint

    out = tmp_path / "runs" / "deeper" / "m.pt"
    result = run("train", "--data", _corpus(tmp_path), "--out", out, *TINY, "--max-epochs", "1")
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(out)
    assert (saved.config.input_transform, saved.config.standardise_input) == ("log", True)
    assert (saved.metadata["train_config"]["lr"], saved.metadata["train_config"]["grad_clip"]) == (1e-3, 2000.0)


def test_train_with_a_folder_for_out_says_what_out_is(tmp_path):
    from .test_hostile import assert_clean_failure

    assert_clean_failure(run("train", "--data", _corpus(tmp_path), "--out", tmp_path, *TINY, "--max-epochs", "1"),
                         "is a folder; --out names the checkpoint file to write")


def test_train_says_when_validation_files_are_also_training_files(tmp_path):
    _corpus(tmp_path)
    both, val = tmp_path / "both.txt", tmp_path / "val.txt"
    both.write_text("corpus/s1/" + SPEECH.name + "\ncorpus/s2/" + COMMAND.name + "\n")
    val.write_text("corpus/s2/" + COMMAND.name + "\n")
    result = run("train", "--train", both, "--val", val, "--out", tmp_path / "m.pt", *TINY, "--max-epochs", "1")
    assert result.exit_code == 0 and "1 of the 1 validation files are also training files" in result.output
    disjoint = tmp_path / "train.txt"
    disjoint.write_text("corpus/s1/" + SPEECH.name + "\n")
    result = run("train", "--train", disjoint, "--val", val, "--out", tmp_path / "o.pt", *TINY, "--max-epochs", "1")
    assert result.exit_code == 0 and "also training files" not in result.output


@pytest.mark.parametrize("model_type, options, refused", [
    ("vae", ["-K", "32"], "--atoms: only for --model-type sdm-vae"),
    ("vae", ["--alpha", "0.1", "--pseudo-inputs", "3"], "--alpha, --pseudo-inputs: only for --model-type vsc"),
    ("vsc", ["--dictionary", "learned"], "--dictionary: only for --model-type sdm-vae"),
    ("sdm-vae", ["--slab-warmup", "0", "0"], "--slab-warmup: only for --model-type vsc")])
def test_train_refuses_options_the_model_type_does_not_have(tmp_path, model_type, options, refused):
    from .test_hostile import assert_clean_failure

    args = ["train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", "--model-type", model_type, "-L", "8",
            "--hidden-dim", "16", "--no-cache", "--max-epochs", "1"]
    assert_clean_failure(run(*args, *options), refused)


def test_a_vsc_run_that_ends_within_its_warm_up_says_so(tmp_path):
    args = ["train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", "--model-type", "vsc", "-L", "8",
            "--hidden-dim", "16", "--no-cache", "--max-epochs", "1"]
    result = run(*args)
    assert result.exit_code == 0 and "all within the warm-up" in result.output and "inf" not in result.output


def test_paper_protocol_is_one_flag_and_options_still_override_it():
    from sdmresynth.training_cli import configs_from_options

    options = {"model_type": "sdm-vae", "latent_dim": 8, "hidden_dim": 16, "dictionary": "dct", "atoms": None,
               "input_transform": None, "standardise_input": None, "alpha": 0.5, "pseudo_inputs": 10,
               "selector_sharpness": 100.0, "selector_anneal": (0.0, 0), "slab_warmup": (10, 20), "lr": None,
               "batch_size": 128, "patience": 20, "max_epochs": 5, "seed": 0, "grad_clip": None, "lr_decays": 0,
               "frame_precision": "float32"}
    model, train = configs_from_options(options | {"paper_protocol": True})
    assert (model.input_transform, model.standardise_input, train.lr, train.grad_clip) == ("power", False, 1e-4, 0.0)
    model, train = configs_from_options(options | {"paper_protocol": True, "lr": 5e-4})
    assert train.lr == 5e-4


@pytest.fixture
def no_audio_reading(monkeypatch):
    """Fails the test if training reads audio (the checks must come first)."""
    def read(*args, **kwargs):
        raise AssertionError("audio was read before the checks")

    monkeypatch.setattr("sdmresynth.training_data.load_frames", read)


def test_resume_without_a_state_fails_before_reading_audio(tmp_path, no_audio_reading):
    result = run("train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", *TINY, "--resume")
    assert result.exit_code == 1 and "no training state to resume from" in result.output


def test_resume_with_other_settings_names_them_before_reading_audio(tmp_path, monkeypatch):
    data, out = _corpus(tmp_path), tmp_path / "m.pt"
    assert run("train", "--data", data, "--out", out, *TINY, "--max-epochs", "1").exit_code == 0
    out.unlink()
    monkeypatch.setattr("sdmresynth.training_data.load_frames", lambda *a, **k: pytest.fail("audio was read"))
    result = run("train", "--data", data, "--out", out, *TINY, "--max-epochs", "2", "--resume", "--lr", "0.01")
    assert result.exit_code == 1 and "lr 0.001 -> 0.01" in result.output


def test_interrupt_in_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sdmresynth.training_cli.train_model", interrupted)
    result = run("train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", *TINY)
    assert result.exit_code == 1 and "no epoch finished, nothing was saved" in result.output


def test_training_says_where_the_frame_cache_is_and_its_size(tmp_path):
    cache = tmp_path / "cache"
    args = ["train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", "--max-epochs", "1", "-L", "8",
            "-K", "16", "--hidden-dim", "16", "--cache-dir", cache]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert f"frame store: {cache}" in result.output and " MB in all" in result.output
    assert "about 460 MB per hour" in result.output


def test_training_keeps_its_frames_at_the_precision_asked_and_records_it(tmp_path):
    cache = tmp_path / "cache"
    result = run("train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", "--frame-precision", "bfloat16",
                 "--max-epochs", "1", "-L", "8", "-K", "16", "--hidden-dim", "16", "--cache-dir", cache)
    assert result.exit_code == 0, result.output
    assert "about 230 MB per hour" in result.output
    assert {store["precision"] for store in json.loads(run("cache", "--cache-dir", cache, "--json").output)["stores"]} == {
        "bfloat16"}
    assert "bfloat16 frames" in run("cache", "--cache-dir", cache).output
    assert load_checkpoint(tmp_path / "m.pt").metadata["train_config"]["frame_precision"] == "bfloat16"


def test_score_report_names_the_command_and_the_checkpoint_shape(tmp_path, tiny_model):
    data = folder_of(tmp_path / "data", {"a.wav": SPEECH})
    report = tmp_path / "results.md"
    result = run("score", "-m", tiny_model, "--data", data, "--workers", "1", "--report", report)
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert f"`sdmresynth score --model {tiny_model} --data {data} --report {report}`" in text
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


def test_a_file_that_is_no_checkpoint_is_called_so():
    from pathlib import Path

    result = run("resynth", SPEECH, "/tmp/x.wav", "-m", Path(__file__).parents[1] / "README.md")
    assert result.exit_code == 1 and "not an sdmresynth checkpoint" in result.output
    assert "run code" not in result.output


def test_model_name_typos_get_a_suggestion_and_the_confusing_alias_is_gone():
    from sdmresynth.pretrained import resolve_model

    with pytest.raises(UserError, match="did you mean sdm-vae\\?"):
        resolve_model("sdm-vea")
    with pytest.raises(UserError, match="did you mean sdm-vae-dct-l64-k256"):
        resolve_model("sdm-vae-log-dct-l64-k256")


def test_models_table_keeps_names_whole_when_piped():
    assert " sdm-vae-log-dct-l64-k256-libri-so762 " in run("models").output
