"""A training run's saved state: where it lives, what it holds, and the checks made before a run starts (that its
output can be written, that a run to resume exists and has the same settings, that finished work is not replaced
without being asked)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from ..models import ModelConfig, SpectralVAE
from ..models.checkpoint import Checkpoint, load_checkpoint
from ..io.shipped import resolve_model
from .config import OBJECTIVES, TrainConfig

# Settings that may change on resume: a run continued with more epochs or decays goes on exactly as a fresh run with
# them.
RESUMABLE_CHANGES = {"max_epochs", "lr_decays"}
# Settings a fine-tuned model may have that its starting checkpoint has not (their weights start fresh).
FINE_TUNING_CHANGES = {"soft_threshold", "refine_steps", "refine_lr", "refine_kl_weight", "inference_steps",
                       "inference_hidden_dim"}


@dataclass
class EpochReport:
    """What one epoch did (the losses are per frame)."""

    epoch: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_epoch: int
    seconds: float


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped (saved after every epoch)."""

    epoch: int = 0
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0
    lr_decays_done: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str = ""


def state_path(out: Path) -> Path:
    """Where the resumable training state of a run writing `out` lives."""
    return out.with_name(out.stem + ".state.pt")


def load_epoch(saved_state: Path) -> int:
    """The epoch a saved training state holds (0 if there is none)."""
    if not saved_state.is_file():
        return 0
    return int(load_checkpoint(saved_state, kind="training-state").extra["state"]["epoch"])


def settings_differing(checkpoint: Checkpoint, model_config: ModelConfig, config: TrainConfig) -> list[str]:
    """The settings a saved run was made with that differ from these, except RESUMABLE_CHANGES."""
    saved_model = checkpoint.config.to_dict()
    saved_train = asdict(TrainConfig()) | checkpoint.extra.get("train_config", {})  # later settings: defaults
    wanted = model_config.to_dict() | asdict(config)
    saved = saved_model | saved_train
    return [f"{k} {saved.get(k)} -> {v}" for k, v in wanted.items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]


def _check_writable(out: Path) -> None:
    """That `out` can be written: its folder is created, writable, and `out` is not a folder."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{out}: cannot create its folder ({error.strerror or error})") from None
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"{out}: folder {out.parent} is not writable")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; name the checkpoint file to write, such as {out / 'model.pt'}",
                        parameters=("out",))


def check_run(out: Path, model_config: ModelConfig, config: TrainConfig, resume: bool,
              overwrite: bool = False) -> Checkpoint | None:
    """Everything that can be checked before any audio is read: that `out` can be written, that finished work is
    not replaced (a checkpoint or a saved state at `out`) unless `overwrite`, and for `resume` that the saved state
    exists and was made with the same settings. Returns the saved state (None when not resuming)."""
    _check_writable(out)
    if config.objective not in OBJECTIVES:
        raise UserError(f"objective {config.objective!r}: {' or '.join(OBJECTIVES)}", parameters=("objective",))
    if (config.mean_weight or config.objective != "elbo") and model_config.model_type == "vsc":
        raise UserError("the mean's divergence is for the VAE and SDM-VAE (a VSC code is gated)",
                        parameters=("mean_weight",))
    saved_state = state_path(out)
    if not resume:
        if overwrite:
            return None
        if out.exists():
            raise UserError(f"{out}: already exists: write another file, resume its run or overwrite it",
                            parameters=("out", "resume", "overwrite"))
        if saved_state.exists():
            raise UserError(f"{saved_state}: a run writing {out} saved its state here: resume it, overwrite it "
                            "(start again), or write another file", parameters=("resume", "overwrite", "out"))
        return None
    if not saved_state.is_file():
        raise UserError(f"{saved_state}: no training state to resume from (start without resuming)")
    saved = load_checkpoint(saved_state, kind="training-state")
    differing = settings_differing(saved, model_config, config)
    if differing:
        raise UserError(f"{saved_state}: was made with other settings ({'; '.join(differing)}); "
                        "resume with the same settings")
    return saved


def load_initial_weights(model: SpectralVAE, name_or_path: str) -> None:
    """Start `model` from a checkpoint's weights: the same architecture, where a soft threshold or learned inference
    steps may be added (starting as if absent), a DCT dictionary may become learnable and the encode-time refinement
    may differ."""
    _, path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    wanted, saved = model.config.to_dict(), checkpoint.config.to_dict()
    unfrozen = saved["dictionary"] == "dct" and wanted["dictionary"] == "learned"  # the DCT atoms start the learning
    differing = [f"{k} {saved[k]} -> {v}" for k, v in wanted.items()
                 if k not in FINE_TUNING_CHANGES and saved[k] != v and not (k == "dictionary" and unfrozen)]
    if differing:
        raise UserError(f"{path}: cannot start from it, its model differs ({'; '.join(differing)})")
    missing, unexpected = model.load_state_dict(checkpoint.state_dict, strict=False)
    stray = [k for k in missing if not k.endswith("threshold") and not k.startswith("inference_step.")]
    stray += list(unexpected)
    if stray:
        raise UserError(f"{path}: its weights do not fit this model ({', '.join(stray)})")
