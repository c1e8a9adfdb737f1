from dataclasses import replace

import numpy as np
import pytest
import torch

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.errors import UserError
from sdmresynth.io.corpus import split_by_speaker
from sdmresynth.models import ModelConfig, build_model
from sdmresynth.models.checkpoint import load_checkpoint
from sdmresynth.training.config import TrainConfig
from sdmresynth.training.features import file_frames, trim_silence
from sdmresynth.training.loop import Run, train_model
from sdmresynth.training.state import TrainState, state_path

from ..conftest import COMMAND, SPEECH


CONFIG = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16)


@pytest.fixture(scope="module")
def frames():
    return file_frames(SPEECH, StftConfig()), file_frames(COMMAND, StftConfig())


def test_training_lowers_the_validation_loss_and_saves_the_best_weights(tmp_path, frames):
    out = tmp_path / "m.pt"
    _, state = train_model(CONFIG, TrainConfig(max_epochs=4, lr=3e-3), *frames, out, torch.device("cpu"))
    history = [h["val_loss"] for h in state.history]
    assert history[-1] < history[0]
    saved = load_checkpoint(out)
    assert saved.metadata["best_val_loss"] == pytest.approx(min(history))
    assert saved.metadata["epochs_run"] == 4 and saved.metadata["train_config"]["lr"] == 3e-3


def test_early_stopping_respects_patience(tmp_path, frames):
    _, state = train_model(CONFIG, TrainConfig(max_epochs=50, lr=1e-9, patience=2), *frames, tmp_path / "m.pt",
                           torch.device("cpu"))
    assert state.stopped == "early stopping" and state.epoch < 50
    assert state.epoch - state.best_epoch == 2


def test_a_plateau_decays_the_learning_rate_from_the_best_weights(tmp_path, frames):
    _, state = train_model(CONFIG, TrainConfig(max_epochs=50, lr=1e-9, patience=2, lr_decays=2), *frames,
                           tmp_path / "m.pt", torch.device("cpu"))
    rates = [h["lr"] for h in state.history]
    assert state.lr_decays_done == 2 and state.stopped == "early stopping"
    assert rates == sorted(rates, reverse=True)
    assert sorted(set(rates), reverse=True) == pytest.approx([1e-9, 1e-10, 1e-11])
    assert all(rates.count(rate) >= 2 for rate in set(rates))  # each rate runs at least --patience epochs
    assert load_checkpoint(tmp_path / "m.pt").metadata["lr_decays_done"] == 2


def test_a_decay_returns_to_the_best_weights_with_a_fresh_adam():
    model = build_model(CONFIG)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(4, 513)).log_variance.sum().backward()
    optimizer.step()
    run = Run(model, model, optimizer, torch.Generator(), torch.Generator(), TrainState(bad_epochs=5), best, None,
              torch.device("cpu"))
    run.decay()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, best[key], rtol=0, atol=0)
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4) and not run.optimizer.state
    assert (run.state.lr_decays_done, run.state.bad_epochs) == (1, 0)


def test_more_decays_on_resume_continue_a_stopped_run_exactly(tmp_path, frames):
    config = TrainConfig(max_epochs=9, lr=3e-2, patience=1)
    straight = tmp_path / "straight.pt"
    _, fresh = train_model(CONFIG, replace(config, lr_decays=1), *frames, straight, torch.device("cpu"))
    assert fresh.lr_decays_done == 1, "the test needs a plateau within 9 epochs"
    stopped = tmp_path / "stopped.pt"
    _, first = train_model(CONFIG, config, *frames, stopped, torch.device("cpu"))
    assert first.stopped == "early stopping"
    train_model(CONFIG, replace(config, lr_decays=1), *frames, stopped, torch.device("cpu"), resume=True)
    a, b = load_checkpoint(straight).state_dict, load_checkpoint(stopped).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path, frames):
    straight = tmp_path / "straight.pt"
    train_model(CONFIG, TrainConfig(max_epochs=3), *frames, straight, torch.device("cpu"))
    resumed = tmp_path / "resumed.pt"
    train_model(CONFIG, TrainConfig(max_epochs=2), *frames, resumed, torch.device("cpu"))
    assert state_path(resumed).is_file()
    train_model(CONFIG, TrainConfig(max_epochs=3), *frames, resumed, torch.device("cpu"), resume=True)
    a, b = load_checkpoint(straight).state_dict, load_checkpoint(resumed).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_run_moves_between_devices(tmp_path, frames):
    """A state saved on a GPU holds a CUDA generator's 16-byte noise state, which a CPU generator cannot take: the
    run still resumes (noise restarted from the seed) and the weights come from the state."""
    out = tmp_path / "m.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    saved = torch.load(state_path(out), weights_only=True)
    saved["extra"]["noise_rng"] = torch.zeros(16, dtype=torch.uint8)  # what torch.cuda's Philox generator saves
    torch.save(saved, state_path(out))
    _, state = train_model(CONFIG, TrainConfig(max_epochs=2), *frames, out, torch.device("cpu"), resume=True)
    assert state.epoch == 2 and [h["epoch"] for h in state.history] == [1, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_gpu_run_resumes_exactly_on_the_gpu_and_goes_on_on_the_cpu(tmp_path, frames):
    gpu = torch.device("cuda")
    straight, resumed = tmp_path / "straight.pt", tmp_path / "resumed.pt"
    train_model(CONFIG, TrainConfig(max_epochs=3), *frames, straight, gpu)
    train_model(CONFIG, TrainConfig(max_epochs=2), *frames, resumed, gpu)
    train_model(CONFIG, TrainConfig(max_epochs=3), *frames, resumed, gpu, resume=True)
    a, b = load_checkpoint(straight).state_dict, load_checkpoint(resumed).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    _, state = train_model(CONFIG, TrainConfig(max_epochs=4), *frames, resumed, torch.device("cpu"), resume=True)
    assert state.epoch == 4


def test_resume_with_other_settings_is_refused(tmp_path, frames):
    out = tmp_path / "m.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    with pytest.raises(UserError, match="other settings"):
        train_model(CONFIG, TrainConfig(max_epochs=2, lr=1e-2), *frames, out, torch.device("cpu"), resume=True)


def test_no_frames_is_a_user_error(tmp_path):
    empty = np.zeros((0, 513), np.float32)
    with pytest.raises(UserError, match="no training"):
        train_model(CONFIG, TrainConfig(), empty, empty, tmp_path / "m.pt", torch.device("cpu"))


def test_trim_silence_drops_quiet_ends_only():
    power = np.ones((10, 4), np.float32)
    power[:2] = 1e-6
    power[5] = 1e-6  # inside: kept
    power[-1] = 0
    trimmed = trim_silence(power)
    assert len(trimmed) == 7 and trimmed[3].sum() == pytest.approx(4e-6)


def test_split_by_speaker_is_disjoint(tmp_path):
    paths = [tmp_path / f"spk{s}" / f"{u}.wav" for s in range(20) for u in range(3)]
    train, val = split_by_speaker(paths)
    assert {p.parent for p in train}.isdisjoint({p.parent for p in val})
    assert len(train) + len(val) == 60 and len(val) == 6


def test_runs_saved_before_a_setting_existed_still_resume():
    from dataclasses import asdict

    from sdmresynth.models.checkpoint import Checkpoint
    from sdmresynth.training.state import settings_differing

    old = {k: v for k, v in asdict(TrainConfig()).items() if k not in ("grad_clip", "frame_precision")}
    saved = Checkpoint("training-state", CONFIG, {}, {}, {"train_config": old})
    assert settings_differing(saved, CONFIG, TrainConfig(max_epochs=900)) == []
    assert settings_differing(saved, CONFIG, TrainConfig(grad_clip=10.0)) == ["grad_clip 0.0 -> 10.0"]
    assert settings_differing(saved, CONFIG, TrainConfig(frame_precision="bfloat16")) == [
        "frame_precision float32 -> bfloat16"]  # other training data: not the same run


def test_resume_names_the_settings_that_differ(tmp_path, frames):
    out = tmp_path / "m.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    other = ModelConfig(latent_dim=8, atoms=32, hidden_dim=16)
    with pytest.raises(UserError, match=r"atoms 16 -> 32; lr 0.0001 -> 0.01"):
        train_model(other, TrainConfig(max_epochs=2, lr=1e-2), *frames, out, torch.device("cpu"), resume=True)


def test_gradient_clipping_bounds_every_step_gradient(tmp_path, frames, monkeypatch):
    import sdmresynth.training.loop as loop

    norms: list[float] = []
    original = loop.adam_steps

    def recording(runs):  # the gradient norm each optimiser step sees, after any clipping
        norms.append(float(torch.norm(torch.stack([p.grad.norm() for p in runs[0].model.parameters()
                                                   if p.grad is not None]))))
        original(runs)

    monkeypatch.setattr(loop, "adam_steps", recording)
    train_model(CONFIG, TrainConfig(max_epochs=2, lr=1e-3), *frames, tmp_path / "free.pt", torch.device("cpu"))
    assert max(norms) > 10, "the test needs gradients that clipping at 1 changes"
    norms.clear()
    train_model(CONFIG, TrainConfig(max_epochs=2, lr=1e-3, grad_clip=1.0), *frames, tmp_path / "m.pt",
                torch.device("cpu"))
    assert norms and max(norms) <= 1.0 + 1e-4
    assert load_checkpoint(tmp_path / "m.pt").metadata["train_config"]["grad_clip"] == 1.0


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_good_state(tmp_path, frames, monkeypatch):
    from sdmresynth.models.sdm_vae import SDMVAE

    out = tmp_path / "m.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    original = SDMVAE.loss

    def diverging(self, *args):
        terms = original(self, *args)
        terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(SDMVAE, "loss", diverging)
    with pytest.raises(UserError, match="diverged in epoch 2"):
        train_model(CONFIG, TrainConfig(max_epochs=3), *frames, out, torch.device("cpu"), resume=True)
    assert load_checkpoint(state_path(out), kind="training-state").extra["state"]["epoch"] == 1


def test_a_run_can_start_from_a_checkpoint_and_add_a_soft_threshold(tmp_path, frames):
    first = tmp_path / "first.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1, lr=1e-3), *frames, first, torch.device("cpu"))
    start = load_checkpoint(first).state_dict
    shrunk = replace(CONFIG, soft_threshold=True)
    model, _ = train_model(shrunk, TrainConfig(max_epochs=1, lr=1e-30, init_from=str(first)), *frames,
                           tmp_path / "tuned.pt", torch.device("cpu"))
    for key, value in start.items():  # a negligible rate: the weights it started from, standardisation included
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=1e-20)
    assert load_checkpoint(tmp_path / "tuned.pt").metadata["train_config"]["init_from"] == str(first)
    with pytest.raises(UserError, match="its model differs.*latent_dim 8 -> 16"):
        train_model(replace(CONFIG, latent_dim=16, atoms=32), TrainConfig(max_epochs=1, init_from=str(first)),
                    *frames, tmp_path / "other.pt", torch.device("cpu"))


def test_a_fine_tuning_may_learn_the_dct_dictionary_it_started_with(tmp_path, frames):
    first = tmp_path / "first.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1, lr=1e-3), *frames, first, torch.device("cpu"))
    learned = replace(CONFIG, dictionary="learned")
    model, _ = train_model(learned, TrainConfig(max_epochs=2, lr=1e-2, init_from=str(first)), *frames,
                           tmp_path / "learned.pt", torch.device("cpu"))
    start = load_checkpoint(first).state_dict["dictionary"]
    moved = model.state_dict()["dictionary"]
    assert not torch.allclose(moved, start, atol=1e-4)  # the atoms were trained
    torch.testing.assert_close(moved.norm(dim=0), torch.ones(CONFIG.atoms))  # and kept at unit length
    with pytest.raises(UserError, match="its model differs.*dictionary learned -> dct"):
        train_model(CONFIG, TrainConfig(max_epochs=1, init_from=str(tmp_path / "learned.pt")), *frames,
                    tmp_path / "back.pt", torch.device("cpu"))


def test_a_saved_run_or_checkpoint_is_not_replaced_unless_asked(tmp_path, frames):
    out = tmp_path / "m.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    with pytest.raises(UserError, match="already exists"):
        train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    out.unlink()  # the state of the run is still there
    with pytest.raises(UserError, match="saved its state here: resume it, overwrite it"):
        train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"))
    _, state = train_model(CONFIG, TrainConfig(max_epochs=1), *frames, out, torch.device("cpu"), overwrite=True)
    assert state.epoch == 1 and out.is_file()


def test_frames_held_on_the_device_train_as_frames_read_from_the_host(tmp_path, frames, monkeypatch):
    """The GPU path keeps the training frames in the device's memory and gathers batches there; on the CPU, forced,
    the same run results."""
    import numpy as np

    import sdmresynth.training.loop as loop
    from sdmresynth.training.minibatches import batches, resident

    held = resident(frames[0], torch.device("cpu"), force=True)
    assert isinstance(held, torch.Tensor) and resident(frames[0], torch.device("cpu")) is frames[0]
    order = np.random.default_rng(0).permutation(len(frames[0]))
    for a, b in zip(batches(frames[0], order, 32, 0, 1, torch.device("cpu")),
                    batches(held, order, 32, 0, 1, torch.device("cpu"))):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    _, host = train_model(CONFIG, TrainConfig(max_epochs=2, lr=1e-3), *frames, tmp_path / "host.pt", torch.device("cpu"))
    monkeypatch.setattr(loop, "resident", lambda frames, device: resident(frames, device, force=True))
    _, device = train_model(CONFIG, TrainConfig(max_epochs=2, lr=1e-3), *frames, tmp_path / "held.pt",
                            torch.device("cpu"))
    assert [h["val_loss"] for h in host.history] == [h["val_loss"] for h in device.history]


@pytest.mark.parametrize("part, moving", [("encoder", "encoder."), ("decoder", "decoder.")])
def test_training_only_one_part_leaves_the_other_as_it_started(tmp_path, frames, part, moving):
    first = tmp_path / "first.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1, lr=1e-3), *frames, first, torch.device("cpu"))
    start = load_checkpoint(first).state_dict
    config = TrainConfig(max_epochs=2, lr=1e-3, init_from=str(first), train_only=part, kl_weight=1.5)
    model, _ = train_model(CONFIG, config, *frames, tmp_path / f"{part}.pt", torch.device("cpu"))
    trained = model.state_dict()
    assert all(torch.equal(trained[k], v) for k, v in start.items() if not k.startswith(moving))
    assert not torch.equal(trained[f"{moving}hidden.weight"], start[f"{moving}hidden.weight"])
    with pytest.raises(UserError, match="train_only 'prior'"):
        train_model(CONFIG, replace(config, train_only="prior"), *frames, tmp_path / "x.pt", torch.device("cpu"))


def test_the_refinement_objective_trains_the_mean_alone_towards_what_refinement_minimises(tmp_path, frames):
    first = tmp_path / "first.pt"
    train_model(CONFIG, TrainConfig(max_epochs=1, lr=1e-3), *frames, first, torch.device("cpu"))
    start = load_checkpoint(first).state_dict
    config = TrainConfig(max_epochs=3, lr=1e-3, init_from=str(first), train_only="encoder-mean",
                         objective="refinement", kl_weight=1.5)
    model, state = train_model(CONFIG, config, *frames, tmp_path / "mean.pt", torch.device("cpu"))
    kept = [k for k in start if not k.startswith(("encoder.mu.", "encoder.skip.", "encoder.threshold"))]
    assert all(torch.equal(model.state_dict()[k], start[k]) for k in kept)  # variances, decoder, dictionary
    power = torch.from_numpy(frames[1])
    with torch.no_grad():
        objective = model.mean_objective(power, model.encode(power), 1.5).mean().item()
    assert objective == pytest.approx(state.history[-1]["val_loss"], rel=1e-5)
    assert state.history[-1]["val_loss"] < state.history[0]["val_loss"]


def test_inference_steps_added_to_a_trained_model_train_alone_and_lower_the_refinement_objective(tmp_path, frames):
    """--init-from a model without learned inference steps, --inference-steps 1 --train-only inference --objective
    refinement: the steps start as the identity (the first validation loss is the encoder's), only they train, and
    the objective falls."""
    first = tmp_path / "first.pt"
    train_model(CONFIG, TrainConfig(max_epochs=2, lr=1e-3), *frames, first, torch.device("cpu"))
    start = load_checkpoint(first).state_dict
    stepped = replace(CONFIG, inference_steps=1, inference_hidden_dim=32, refine_kl_weight=1.5)
    config = TrainConfig(max_epochs=3, lr=1e-3, init_from=str(first), train_only="inference",
                         objective="refinement", kl_weight=1.5)
    model, state = train_model(stepped, config, *frames, tmp_path / "stepped.pt", torch.device("cpu"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in start.items())
    plain = build_model(CONFIG)
    plain.load_state_dict(start)
    power = torch.from_numpy(frames[1])
    with torch.no_grad():
        encoder_only = plain.mean_objective(power, plain.encode(power), 1.5).mean().item()
    assert state.history[-1]["val_loss"] < encoder_only
    assert load_checkpoint(tmp_path / "stepped.pt").config.inference_steps == 1
