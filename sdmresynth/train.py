"""The training loop: shuffled mini-batches, early stopping, best weights kept, resumable every epoch."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from . import distributed
from .batches import STANDARDISE_CHUNK, batches, chunks
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .errors import UserError
from .models import ModelConfig, Noise, SpectralVAE, build_model

VAL_BATCH = 8192
LR_DECAY = 0.1  # the learning rate's factor at each of --lr-decays


@dataclass(frozen=True)
class TrainConfig:
    """The paper's protocol: Adam, batch 128, early stopping with patience 20, at most 500 epochs."""

    lr: float = 1e-4
    batch_size: int = 128
    patience: int = 20
    max_epochs: int = 500
    seed: int = 0
    grad_clip: float = 0.0  # max global gradient L2 norm; 0: no clipping (the paper's protocol)
    lr_decays: int = 0  # times a plateau restarts from the best weights at LR_DECAY times the learning rate
    frame_precision: str = "float32"  # how the training and validation frames are kept: float32 or bfloat16


@dataclass
class EpochReport:
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


RESUMABLE_CHANGES = {"max_epochs", "lr_decays"}


def settings_differing(checkpoint: Checkpoint, model_config: ModelConfig, config: TrainConfig) -> list[str]:
    """The settings a saved run was made with that differ from these. Only the stopping settings max_epochs and
    lr_decays may change on resume: a run continued with more of either goes on exactly as a fresh run with them."""
    saved_model = checkpoint.config.to_dict()
    saved_train = asdict(TrainConfig()) | checkpoint.extra.get("train_config", {})  # later settings: defaults
    wanted = model_config.to_dict() | asdict(config)
    saved = saved_model | saved_train
    return [f"{k} {saved.get(k)} -> {v}" for k, v in wanted.items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]


def check_run(out: Path, model_config: ModelConfig, config: TrainConfig, resume: bool) -> Checkpoint | None:
    """Everything that can be checked before any audio is read: that `out` can be written (its folder is
    created), and for --resume that the saved state exists and was made with the same settings. Returns the saved
    state (None when not resuming)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{out}: cannot create its folder ({error.strerror or error})") from None
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"{out}: folder {out.parent} is not writable")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; --out names the checkpoint file to write, such as {out / 'model.pt'}")
    saved_state = state_path(out)
    if not resume:
        if out.exists():
            raise UserError(f"{out}: already exists (choose another --out, or --resume a run)")
        return None
    if not saved_state.is_file():
        raise UserError(f"{saved_state}: no training state to resume from (start without --resume)")
    saved = load_checkpoint(saved_state, kind="training-state")
    differing = settings_differing(saved, model_config, config)
    if differing:
        raise UserError(f"{saved_state}: was made with other settings ({'; '.join(differing)}); "
                        "resume with the same options")
    return saved


def _adam(model: SpectralVAE, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch has one for the device (about 20 % faster steps on a CPU)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=lr)


def _decay(model: SpectralVAE, best_weights: dict[str, torch.Tensor], optimizer: torch.optim.Adam) -> torch.optim.Adam:
    """A plateau's learning-rate step: back to the best weights, a fresh Adam at LR_DECAY times the rate."""
    if best_weights:
        model.load_state_dict(best_weights)
    return _adam(model, optimizer.param_groups[0]["lr"] * LR_DECAY)


def _snapshot(model: SpectralVAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _restore_noise(noise: torch.Generator, saved: torch.Tensor, seed: int, epoch: int) -> None:
    """Continue the saved noise stream; a state from another device type (a run moved between CPU and GPU, whose
    generators differ) cannot be, so the stream restarts from the seed and the epoch: such a resume is not exact."""
    if saved.numel() == noise.get_state().numel():
        noise.set_state(saved)
    else:
        noise.manual_seed(seed + 2 + 1_000_003 * epoch)


def _validation_loss(model: SpectralVAE, frames: np.ndarray, seed: int, device: torch.device) -> float:
    """Mean negative ELBO per frame (frames streamed in blocks), with the same noise every epoch so epochs compare
    fairly."""
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    total = 0.0
    model.eval()
    with torch.no_grad():
        for batch in chunks(frames, VAL_BATCH, device):
            total += model.loss(batch, model(batch, Noise(generator)))["loss"].item() * len(batch)
    model.train()
    return total / len(frames)


def train_model(
    model_config: ModelConfig,
    config: TrainConfig,
    train_frames: np.ndarray,
    val_frames: np.ndarray,
    out: Path,
    device: torch.device,
    resume: bool = False,
    metadata: dict[str, Any] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[SpectralVAE, TrainState]:
    """Train, saving the resumable state after each epoch and the best weights to `out` at the end.

    train_frames, val_frames: (N, F) float32 power frames, in memory or memory-mapped (the frame store): they are
    streamed a mini-batch at a time, never loaded whole. Returns the model with the best weights.
    """
    if len(train_frames) == 0 or len(val_frames) == 0:
        raise UserError("no training or validation frames (are the files silent or unreadable?)")
    device = distributed.local_device(device)
    shard = distributed.start(device)
    if config.batch_size % shard.world:
        raise UserError(f"--batch-size {config.batch_size} must be a multiple of the {shard.world} processes")
    torch.manual_seed(config.seed)
    model = build_model(model_config).to(device)
    optimizer = _adam(model, config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    noise = torch.Generator(device=device).manual_seed(config.seed + 2)
    state = TrainState()
    best_weights: dict[str, torch.Tensor] = {}
    saved_state = state_path(out)
    if resume:
        checkpoint = check_run(out, model_config, config, resume)
        model.load_state_dict(checkpoint.state_dict)
        optimizer.load_state_dict(checkpoint.extra["optimizer"])
        best_weights = checkpoint.extra["best_weights"]
        shuffle.set_state(checkpoint.extra["shuffle_rng"])
        _restore_noise(noise, checkpoint.extra["noise_rng"], config.seed, checkpoint.extra["state"]["epoch"])
        state = TrainState(**checkpoint.extra["state"])
        state.stopped = ""

    if not resume:
        model.fit_input_standardisation(chunks(train_frames, STANDARDISE_CHUNK, device))
    # Every process shuffles alike and reads rows rank, rank + world, ... of each global batch; the last,
    # partial batch is cut to a multiple of the process count (at most world - 1 frames an epoch).
    usable = len(train_frames) - (len(train_frames) % config.batch_size) % shard.world
    steps = -(-usable // config.batch_size)
    network = DistributedDataParallel(model) if shard.world > 1 else model
    model.train()
    while state.epoch < config.max_epochs:
        if state.bad_epochs >= config.patience:
            if state.lr_decays_done >= config.lr_decays:
                break
            optimizer = _decay(model, best_weights, optimizer)
            state.lr_decays_done += 1
            state.bad_epochs = 0
        started = time.perf_counter()
        model.start_epoch(state.epoch)
        order = torch.randperm(len(train_frames), generator=shuffle)[:usable].numpy()
        total = torch.zeros((), dtype=torch.float64, device=device)  # on the device: no host sync per step
        for step, batch in enumerate(batches(train_frames, order, config.batch_size, shard.rank, shard.world, device)):
            loss = model.loss(batch, network(batch, Noise(noise, shard.rank, shard.world)))["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DistributedDataParallel averages the gradients of the processes' equal shares
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            model.after_step()
            total += loss.detach().double() * len(batch)
            if on_step:
                on_step(step + 1, steps)
        total = distributed.total(total.item(), shard, device)
        val_loss = _validation_loss(model, val_frames, config.seed, device)  # the same everywhere: stopping agrees
        if not (np.isfinite(total) and np.isfinite(val_loss)):  # the saved state stays at the last good epoch
            raise UserError(f"training diverged in epoch {state.epoch + 1} (the loss is not finite); "
                            f"{saved_state} keeps epoch {state.epoch}: try a lower --lr or --grad-clip")
        comparable = model.comparable_epoch(state.epoch)  # warm-up epochs neither count nor become "best"
        state.epoch += 1
        if comparable and val_loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, state.epoch, 0
            best_weights = _snapshot(model)
        elif comparable:
            state.bad_epochs += 1
        seconds = time.perf_counter() - started
        state.seconds += seconds
        train_loss = total / usable
        state.history.append({"epoch": state.epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds,
                              "lr": optimizer.param_groups[0]["lr"]})
        extra = {
            "train_config": asdict(config),
            "optimizer": optimizer.state_dict(),
            "best_weights": best_weights,
            "shuffle_rng": shuffle.get_state(),
            "noise_rng": noise.get_state().cpu(),
            "state": asdict(state),
        }
        if shard.is_main:
            save_checkpoint(saved_state, model_config, model.state_dict(), metadata or {}, "training-state", extra)
        if on_epoch and shard.is_main:
            on_epoch(EpochReport(state.epoch, train_loss, val_loss, state.best_val_loss, state.best_epoch, seconds))

    state.stopped = "early stopping" if state.bad_epochs >= config.patience else "max epochs"
    if state.best_epoch:  # otherwise the run ended within a warm-up: keep its last weights
        model.load_state_dict(best_weights)
    final_metadata = dict(metadata or {})
    final_metadata.update(
        train_config=asdict(config),
        epochs_run=state.epoch,
        best_epoch=state.best_epoch,
        best_val_loss=state.best_val_loss,
        lr_decays_done=state.lr_decays_done,
        stopped_by=state.stopped,
        train_seconds=round(state.seconds, 1),
        machine=f"{platform.machine()}, {device.type}, {torch.get_num_threads()} thread(s)"
                f"{f' x {shard.world} processes' if shard.world > 1 else ''}",
        torch_version=str(torch.__version__),
        history=state.history,
    )
    if shard.is_main:
        save_checkpoint(out, model_config, model.state_dict(), final_metadata)
    distributed.barrier(shard)
    return model.eval(), state

