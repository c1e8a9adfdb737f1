"""Sweeps: several models trained as one computation, each equal to its own run."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.errors import UserError
from sdmresynth.models import ModelConfig
from sdmresynth.models.checkpoint import load_checkpoint
from sdmresynth.training.config import TrainConfig
from sdmresynth.training.features import file_frames
from sdmresynth.training.loop import train_model
from sdmresynth.training.sweep import sweep_outputs, train_sweep
from sdmresynth.training.sweep_processes import sweep_processes, train_sweep_in_processes

from ..conftest import COMMAND, SPEECH, assert_clean_failure, folder_of, run

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def frames():
    torch.set_num_threads(1)
    return file_frames(SPEECH, StftConfig()), file_frames(COMMAND, StftConfig())


def val_losses(state) -> np.ndarray:
    return np.array([h["val_loss"] for h in state.history])


@pytest.mark.parametrize("model", [ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, dictionary="learned"),
                                   ModelConfig(model_type="vsc", latent_dim=8, hidden_dim=16, slab_warmup_start=1,
                                               slab_warmup_end=2),
                                   ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, decoder_layers=2,
                                               reconstruction_weight="bark")],
                         ids=["sdm-vae-learned", "vsc-warm-up", "deeper-decoder-bark"])
@pytest.mark.parametrize("stacked", [True, False], ids=["stacked", "in-turn"])
def test_each_model_of_a_sweep_equals_its_own_run(tmp_path, frames, model, stacked):
    configs = [TrainConfig(max_epochs=4, lr=1e-3, grad_clip=50, seed=seed) for seed in (0, 1, 2)]
    states = train_sweep(model, configs, *frames, sweep_outputs(tmp_path / "m.pt", configs), CPU, stacked=stacked)
    for config, state in zip(configs, states):
        _, alone = train_model(model, config, *frames, tmp_path / f"alone{config.seed}.pt", CPU)
        np.testing.assert_allclose(val_losses(state), val_losses(alone), rtol=1e-4)
        assert len(state.history) == 4
    assert [p.name for p in sweep_outputs(tmp_path / "m.pt", configs)] == ["m-seed0.pt", "m-seed1.pt", "m-seed2.pt"]


@pytest.mark.parametrize("stacked", [True, False], ids=["stacked", "in-turn"])
def test_a_model_that_stops_leaves_the_others_unchanged(tmp_path, frames, stacked):
    model = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16)
    quick, slow = TrainConfig(max_epochs=6, lr=1e-3, patience=2, seed=0), TrainConfig(max_epochs=6, lr=1e-12,
                                                                                       patience=2, seed=0)
    outs = sweep_outputs(tmp_path / "m.pt", [quick, slow])
    assert [p.name for p in outs] == ["m-seed0-lr0.001.pt", "m-seed0-lr1e-12.pt"]
    learning, stalled = train_sweep(model, [quick, slow], *frames, outs, CPU, stacked=stacked)
    assert stalled.stopped == "early stopping" and stalled.epoch < learning.epoch
    _, alone = train_model(model, quick, *frames, tmp_path / "alone.pt", CPU)
    np.testing.assert_allclose(val_losses(learning), val_losses(alone), rtol=1e-4)


@pytest.mark.parametrize("stacked", [True, False], ids=["stacked", "in-turn"])
def test_a_sweep_resumes_exactly_and_a_single_run_can_continue_its_models(tmp_path, frames, stacked):
    model = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16)
    configs = [TrainConfig(max_epochs=3, lr=1e-3, seed=seed) for seed in (0, 1)]
    straight = train_sweep(model, configs, *frames, sweep_outputs(tmp_path / "straight.pt", configs), CPU,
                           stacked=stacked)
    stopped = sweep_outputs(tmp_path / "stopped.pt", configs)
    train_sweep(model, [replace(c, max_epochs=1) for c in configs], *frames, stopped, CPU, stacked=stacked)
    resumed = train_sweep(model, configs, *frames, stopped, CPU, resume=True, stacked=stacked)
    for a, b in zip(straight, resumed):
        np.testing.assert_allclose(val_losses(b), val_losses(a), rtol=1e-6)
    _, alone = train_model(model, replace(configs[1], max_epochs=4), *frames, stopped[1], CPU, resume=True)
    assert alone.epoch == 4 and load_checkpoint(stopped[1]).metadata["epochs_run"] == 4
    with pytest.raises(UserError, match="may differ only in seed, lr, kl_weight, mean_weight"):
        train_sweep(model, [configs[0], replace(configs[1], batch_size=64)], *frames, stopped, CPU, overwrite=True)


def test_a_sweep_split_over_processes_equals_the_sweep_in_one(tmp_path, frames):
    model = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16)
    configs = [TrainConfig(max_epochs=3, lr=1e-3, seed=seed) for seed in (0, 1, 2)]
    together = train_sweep(model, configs, *frames, sweep_outputs(tmp_path / "one.pt", configs), CPU)
    reported = []
    split = train_sweep_in_processes(2, 2, model, configs, *frames, sweep_outputs(tmp_path / "two.pt", configs),
                                     [None] * 3, on_epoch=lambda m, report: reported.append((m, report.epoch)))
    for a, b in zip(together, split):
        np.testing.assert_allclose(val_losses(b), val_losses(a), rtol=1e-4)
    assert sorted(reported) == [(m, e) for m in range(3) for e in (1, 2, 3)]
    assert load_checkpoint(tmp_path / "two-seed2.pt").metadata["epochs_run"] == 3
    assert sweep_processes(3, 2, CPU) == 2 and sweep_processes(3, 16, CPU) == 3 and sweep_processes(3, 1, CPU) == 1


def test_a_failing_process_of_a_split_sweep_is_a_clean_error(tmp_path, frames):
    model = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16)
    configs = [TrainConfig(max_epochs=1, seed=seed) for seed in (0, 1)]
    outs = sweep_outputs(tmp_path / "m.pt", configs)
    outs[1].mkdir()  # its checkpoint cannot be written
    with pytest.raises(UserError, match="m-seed1.pt: cannot write"):
        train_sweep_in_processes(2, 2, model, configs, *frames, outs, [None, None])


def test_the_command_line_trains_a_sweep_over_seeds(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    folder_of(corpus / "s1", {"a.wav": SPEECH})
    folder_of(corpus / "s2", {"b.wav": COMMAND})
    args = ["train", "--data", corpus, "--out", tmp_path / "m.pt", "-L", "8", "-K", "16", "--hidden-dim", "16",
            "--no-cache", "--max-epochs", "1"]
    result = run(*args, "--seeds", "3,5", "--threads", "2")
    assert result.exit_code == 0, result.output
    assert "sweep: 2 processes of 1 thread(s)" in result.output
    assert "held in memory (--no-cache): each process gets its own copy" in result.output
    assert "seed 3   epoch    1" in result.output and "seed 5   epoch    1" in result.output
    assert load_checkpoint(tmp_path / "m-seed5.pt").metadata["train_config"]["seed"] == 5
    assert_clean_failure(run(*args, "--seeds", "3,5", "--seed", "1"), "--seed trains one model, --seeds a sweep")
    result = run(*args, "--seeds", "4")
    assert result.exit_code == 2 and "two or more different seeds" in result.output
