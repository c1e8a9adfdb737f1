"""`sdmresynth train`: folders and lists, checks before any audio is read, resuming, interrupts, the frame store."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from sdmresynth.models.checkpoint import load_checkpoint

from ..conftest import COMMAND, SPEECH, assert_clean_failure, run


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


def _six_speaker_corpus(folder):
    for i in range(6):
        (folder / f"s{i}").mkdir(parents=True)
        shutil.copy(SPEECH if i % 2 else COMMAND, folder / f"s{i}" / "clip.wav")
    return folder


def _train_command(corpus, out, epochs):
    return [sys.executable, "-m", "sdmresynth.cli", "train", "--data", str(corpus), "--out", str(out), "-L", "8",
            "-K", "16", "--hidden-dim", "32", "--max-epochs", str(epochs), "--no-cache", "--threads", "1"]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, signal_number):
    corpus = _six_speaker_corpus(tmp_path / "corpus")
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


def _corpus(tmp_path):
    data = tmp_path / "corpus"
    for speaker, clip in (("s1", SPEECH), ("s2", COMMAND)):
        (data / speaker).mkdir(parents=True)
        shutil.copy(clip, data / speaker / clip.name)
    return data


TINY = ["-L", "8", "-K", "16", "--hidden-dim", "16", "--no-cache"]


def test_train_creates_the_folder_of_out_and_defaults_to_the_recipe(tmp_path):
    from sdmresynth.models.checkpoint import load_checkpoint

    out = tmp_path / "runs" / "deeper" / "m.pt"
    result = run("train", "--data", _corpus(tmp_path), "--out", out, *TINY, "--max-epochs", "1")
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(out)
    assert (saved.config.input_transform, saved.config.standardise_input) == ("log", True)
    assert (saved.metadata["train_config"]["lr"], saved.metadata["train_config"]["grad_clip"]) == (1e-3, 2000.0)


def test_train_with_a_wider_deeper_decoder_and_a_weighted_divergence_saves_them_in_the_checkpoint(tmp_path):
    out = tmp_path / "m.pt"
    result = run("train", "--data", _corpus(tmp_path), "--out", out, *TINY, "--decoder-hidden-dim", "24",
                 "--decoder-layers", "2", "--reconstruction-weight", "bark", "--max-epochs", "1")
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(out)
    assert (saved.config.hidden_dim, saved.config.decoder_width, saved.config.decoder_layers) == (16, 24, 2)
    assert saved.config.reconstruction_weight == "bark" and "bin_weight" not in saved.state_dict
    assert saved.state_dict["decoder.deeper.0.weight"].shape == (24, 24)


def test_inference_steps_trained_on_a_model_are_saved_with_it_and_encode(tmp_path):
    """The README's recipe for learned inference steps, at toy size: fine-tune a model's steps alone; the checkpoint
    has them and the KL weight their gradient reads, and encodes a file; a sweep refuses them."""
    first, stepped = tmp_path / "first.pt", tmp_path / "stepped.pt"
    assert run("train", "--data", _corpus(tmp_path), "--out", first, *TINY, "--max-epochs", "1").exit_code == 0
    options = [*TINY, "--inference-steps", "1", "--inference-hidden-dim", "8", "--kl-weight", "1.5", "--max-epochs",
               "1", "--init-from", first, "--train-only", "inference", "--objective", "refinement"]
    result = run("train", "--data", tmp_path / "corpus", "--out", stepped, *options)
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(stepped)
    assert (saved.config.inference_steps, saved.config.refine_kl_weight, saved.config.refine_steps) == (1, 1.5, 0)
    assert saved.state_dict["inference_step.hidden.weight"].shape == (8, 513 + 2 * 16 + 1)
    result = run("encode", SPEECH, "-o", tmp_path / "codes.npz", "--model", stepped)
    assert result.exit_code == 0, result.output
    sweep = ["train", "--data", tmp_path / "corpus", "--out", tmp_path / "s.pt", *TINY, "--inference-steps", "1",
             "--seeds", "0,1", "--max-epochs", "1"]
    assert_clean_failure(run(*sweep), "a sweep trains models without learned inference steps")


def test_train_with_a_folder_for_out_says_what_out_is(tmp_path):
    assert_clean_failure(run("train", "--data", _corpus(tmp_path), "--out", tmp_path, *TINY, "--max-epochs", "1"),
                         "is a folder; name the checkpoint file to write")


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
    args = ["train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", "--model-type", model_type, "-L", "8",
            "--hidden-dim", "16", "--no-cache", "--max-epochs", "1"]
    assert_clean_failure(run(*args, *options), refused)


def test_a_vsc_run_that_ends_within_its_warm_up_says_so(tmp_path):
    args = ["train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", "--model-type", "vsc", "-L", "8",
            "--hidden-dim", "16", "--no-cache", "--max-epochs", "1"]
    result = run(*args)
    assert result.exit_code == 0 and "all within the warm-up" in result.output and "inf" not in result.output


@pytest.fixture
def no_audio_reading(monkeypatch):
    """Fails the test if training reads audio (the checks must come first)."""
    def read(*args, **kwargs):
        raise AssertionError("audio was read before the checks")

    monkeypatch.setattr("sdmresynth.training.sets.load_frames", read)


def test_resume_without_a_state_fails_before_reading_audio(tmp_path, no_audio_reading):
    result = run("train", "--data", _corpus(tmp_path), "--out", tmp_path / "m.pt", *TINY, "--resume")
    assert result.exit_code == 1 and "no training state to resume from" in result.output


def test_resume_with_other_settings_names_them_before_reading_audio(tmp_path, monkeypatch):
    data, out = _corpus(tmp_path), tmp_path / "m.pt"
    assert run("train", "--data", data, "--out", out, *TINY, "--max-epochs", "1").exit_code == 0
    out.unlink()
    monkeypatch.setattr("sdmresynth.training.sets.load_frames", lambda *a, **k: pytest.fail("audio was read"))
    result = run("train", "--data", data, "--out", out, *TINY, "--max-epochs", "2", "--resume", "--lr", "0.01")
    assert result.exit_code == 1 and "lr 0.001 -> 0.01" in result.output


def test_interrupt_in_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sdmresynth.cli.training.train_model", interrupted)
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


def test_train_with_a_cache_dir_that_cannot_be_made_fails_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    corpus = _corpus(tmp_path)
    result = run("train", "--data", corpus, "--out", tmp_path / "m.pt", "--max-epochs", "1", "-L", "8",
                 "--hidden-dim", "16", "--cache-dir", blocker / "cache")
    assert_clean_failure(result, "frame store in", "give another cache folder (--cache-dir)")
    for command in (["train", "--data", corpus, "--out", tmp_path / "m.pt", "--max-epochs", "1"],
                    ["cache"], ["cache", "--clear"]):  # the file itself as the folder
        assert_clean_failure(run(*command, "--cache-dir", blocker), "a-file: is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_a_rerun_without_resume_keeps_the_saved_run_and_says_how_to_go_on(tmp_path):
    out = tmp_path / "m.pt"
    args = ["train", "--data", _corpus(tmp_path), "--out", out, *TINY]
    assert run(*args, "--max-epochs", "1").exit_code == 0
    out.unlink()  # a run interrupted after its first epoch: its state is there, its checkpoint not
    saved = (tmp_path / "m.state.pt").read_bytes()
    assert_clean_failure(run(*args, "--max-epochs", "2"), "m.state.pt: a run writing", "(--resume, --overwrite, --out)")
    assert (tmp_path / "m.state.pt").read_bytes() == saved
    result = run(*args, "--max-epochs", "2", "--resume")
    assert result.exit_code == 0 and "epoch    2" in result.output, result.output
    assert_clean_failure(run(*args, "--max-epochs", "2"), "m.pt: already exists", "(--out, --resume, --overwrite)")
    result = run(*args, "--max-epochs", "1", "--overwrite")
    assert result.exit_code == 0 and "epoch    1" in result.output and "epoch    2" not in result.output
