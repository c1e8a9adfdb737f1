"""The training loop: shuffled mini-batches, early stopping, learning-rate decays, best weights kept, the state saved
after every epoch so that a run resumes exactly."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.adam import adam

from ..errors import UserError
from ..models import DrawnNoise, ModelConfig, Noise, SpectralVAE, build_model
from ..models.checkpoint import Checkpoint, save_checkpoint
from . import distributed
from .config import LR_DECAY, TrainConfig
from .graphs import StepGraph, use_graphs
from .minibatches import STANDARDISE_CHUNK, batches, chunks, resident
from .state import EpochReport, TrainState, check_run, load_initial_weights, state_path

VAL_BATCH = 8192
BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which make_optimizer's Adam has


# What train_only may name: the weights that alone train (the encoder; or its mean's, the variances kept; or the
# decoder and a learned dictionary, for codes the encoder keeps as they are; or the learned inference steps).
TRAINABLE_PARTS = {"encoder": ("encoder.",), "encoder-mean": ("encoder.mu.", "encoder.skip.", "encoder.threshold"),
                   "decoder": ("decoder.", "dictionary"), "inference": ("inference_step.",)}


def make_optimizer(model: SpectralVAE, lr: float) -> torch.optim.Adam:
    """Adam over the weights that train, with the fused kernel where this torch has one for the device (about 20 %
    faster steps on a CPU)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def freeze_all_but(model: SpectralVAE, part: str) -> None:
    """Only the weights of the submodule `part` (train_only) train; the others stay as they are."""
    if part not in TRAINABLE_PARTS:
        raise UserError(f"train_only {part!r}: one of {', '.join(TRAINABLE_PARTS)}", parameters=("train_only",))
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(TRAINABLE_PARTS[part]))


def training_loss(model: SpectralVAE, batch: torch.Tensor, noise: Noise, config: TrainConfig,
                  network: torch.nn.Module | None = None) -> torch.Tensor:
    """The mean loss of a batch under config.objective: the (weighted) negative ELBO of one sample, or the refinement's
    objective (the decoded mean's divergence + kl_weight x KL; no sample)."""
    if config.objective == "refinement":
        return model.mean_objective(batch, model.infer(batch), config.kl_weight).mean()
    return model.loss(batch, (network or model)(batch, noise), config.kl_weight, config.mean_weight)["loss"]


def _snapshot(model: SpectralVAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class Run:
    """A run in progress: the model, its optimiser and random streams, the state saved after each epoch, the best
    weights so far, and this process's place in a data-parallel run."""

    model: SpectralVAE
    network: torch.nn.Module  # the model, or its DistributedDataParallel wrapper (set last: after the weights)
    optimizer: torch.optim.Adam
    shuffle: torch.Generator
    noise: torch.Generator
    state: TrainState
    best_weights: dict[str, torch.Tensor]
    shard: distributed.Shard
    device: torch.device
    step_graph: StepGraph | None = None  # kept from epoch to epoch while the optimiser and settings stay the same

    def decay(self) -> None:
        """A plateau's learning-rate step: back to the best weights, a fresh Adam at LR_DECAY times the rate."""
        if self.best_weights:
            self.model.load_state_dict(self.best_weights)
        self.optimizer = make_optimizer(self.model, self.optimizer.param_groups[0]["lr"] * LR_DECAY)
        self.state.lr_decays_done += 1
        self.state.bad_epochs = 0


def adam_steps(runs: list[Run]) -> None:
    """Each run's optimiser step (torch's Adam, state and all), as one call for the runs that share a learning rate
    and settings (its fused kernel then updates them together), else run by run; then each model's constraint. Called
    as a function, not as Adam.step, so that a CUDA graph may record it (the fused kernel reads its step count from
    the device)."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        group = run.optimizer.param_groups[0]
        groups.setdefault((group["lr"], group["fused"], group["foreach"]), []).append(run)
    for (lr, fused, foreach), members in groups.items():
        tensors = {key: [] for key in ("params", "grads", "exp_avg", "exp_avg_sq", "step")}
        for run in members:
            for param in (p for p in run.model.parameters() if p.grad is not None):  # as Adam.step skips the others
                state = run.optimizer.state[param]
                if not state:  # initialised as Adam initialises it
                    state["step"] = (torch.zeros((), dtype=torch.float32, device=param.device) if fused
                                     else torch.tensor(0.0))
                    state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(param), torch.zeros_like(param)
                for key, value in (("params", param), ("grads", param.grad), ("exp_avg", state["exp_avg"]),
                                   ("exp_avg_sq", state["exp_avg_sq"]), ("step", state["step"])):
                    tensors[key].append(value)
        with torch.no_grad():
            adam(tensors["params"], tensors["grads"], tensors["exp_avg"], tensors["exp_avg_sq"], [], tensors["step"],
                 amsgrad=False, has_complex=False, beta1=BETAS[0], beta2=BETAS[1], lr=lr, weight_decay=0.0, eps=EPS,
                 maximize=False, foreach=foreach, capturable=False, differentiable=False, fused=fused)
    for run in runs:
        run.model.after_step()


def _restore_noise(noise: torch.Generator, saved: torch.Tensor, seed: int, epoch: int) -> None:
    """Continue the saved noise stream; a state from another device type (a run moved between CPU and GPU, whose
    generators differ) cannot be, so the stream restarts from the seed and the epoch: such a resume is not exact."""
    if saved.numel() == noise.get_state().numel():
        noise.set_state(saved)
    else:
        noise.manual_seed(seed + 2 + 1_000_003 * epoch)


def start_run(model_config: ModelConfig, config: TrainConfig, train_frames: np.ndarray, device: torch.device,
              saved: Checkpoint | None) -> Run:
    """A fresh run (seeded; weights from config.init_from or initialised, the input standardisation fitted on the
    training frames) or the saved one continued."""
    device = distributed.local_device(device)
    shard = distributed.start(device)
    if config.batch_size % shard.world:
        raise UserError(f"batch size {config.batch_size} must be a multiple of the {shard.world} processes",
                        parameters=("batch_size",))
    torch.manual_seed(config.seed)
    model = build_model(model_config)
    if config.init_from:
        load_initial_weights(model, config.init_from)
    if config.train_only:
        freeze_all_but(model, config.train_only)
    model = model.to(device)
    run = Run(model, model, make_optimizer(model, config.lr), torch.Generator().manual_seed(config.seed),
              torch.Generator(device=device).manual_seed(config.seed + 2), TrainState(), {}, shard, device)
    if saved is not None:
        model.load_state_dict(saved.state_dict)
        run.optimizer.load_state_dict(saved.extra["optimizer"])
        run.best_weights = saved.extra["best_weights"]
        run.shuffle.set_state(saved.extra["shuffle_rng"])
        _restore_noise(run.noise, saved.extra["noise_rng"], config.seed, saved.extra["state"]["epoch"])
        run.state = TrainState(**saved.extra["state"])
        run.state.stopped = ""
    elif not config.init_from:  # a fine-tuned model keeps the standardisation it was trained with
        model.fit_input_standardisation(chunks(train_frames, STANDARDISE_CHUNK, device))
    if shard.world > 1:
        run.network = DistributedDataParallel(model)
    model.train()
    return run


def validation_loss(model: SpectralVAE, frames: np.ndarray, device: torch.device,
                    config: TrainConfig = TrainConfig()) -> float:
    """Mean training objective per frame (frames streamed in blocks), with the same noise every epoch so that epochs
    compare fairly."""
    generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    total = 0.0
    model.eval()
    with torch.no_grad():
        for batch in chunks(frames, VAL_BATCH, device):
            total += training_loss(model, batch, Noise(generator), config).item() * len(batch)
    model.train()
    return total / len(frames)


def usable_frames(frames: int, config: TrainConfig, shard: distributed.Shard) -> int:
    """Frames an epoch uses: every process shuffles alike and reads rows rank, rank + world, ... of each global
    batch, so the last, partial batch is cut to a multiple of the process count (at most world - 1 frames)."""
    return frames - (frames % config.batch_size) % shard.world


def train_epoch(run: Run, config: TrainConfig, frames: np.ndarray | torch.Tensor,
                on_step: Callable[[int, int], None] | None = None, graphs: bool | None = None) -> float:
    """One pass over the shuffled training frames; the mean training loss per frame (summed over processes). graphs:
    replay the full batches' steps from a CUDA graph (graphs.py; None: where use_graphs says so)."""
    usable = usable_frames(len(frames), config, run.shard)
    steps = -(-usable // config.batch_size)
    run.model.start_epoch(run.state.epoch)
    order = torch.randperm(len(frames), generator=run.shuffle)[:usable].numpy()
    total = torch.zeros((), dtype=torch.float64, device=run.device)  # on the device: no host sync per step

    def step(batch: torch.Tensor, noise: Noise) -> torch.Tensor:
        loss = training_loss(run.model, batch, noise, config, run.network)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DistributedDataParallel averages the gradients of the processes' equal shares
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in run.model.parameters() if p.requires_grad], config.grad_clip)
        adam_steps([run])
        return loss.detach().double() * len(batch)

    graphed = None
    if config.objective == "elbo" and use_graphs(graphs, run.device, run.shard, [run.optimizer]):
        if run.step_graph is None or not run.step_graph.serves(run.optimizer, config):  # new: a decay's new Adam
            run.step_graph = StepGraph(lambda batch, *draws: step(batch, DrawnNoise(list(draws))),
                                       owners=(run.optimizer, config))  # (the refinement draws no noise)
        graphed = run.step_graph
    like = torch.empty(config.batch_size // run.shard.world, run.model.config.code_dim, device=run.device)
    for number, batch in enumerate(batches(frames, order, config.batch_size, run.shard.rank, run.shard.world,
                                           run.device)):
        noise = Noise(run.noise, run.shard.rank, run.shard.world)
        if graphed is not None and len(batch) == len(like):
            graphed(batch, *noise.draws(run.model.NOISE_DRAWS, like))
        else:
            total.add_(step(batch, noise))
        if on_step:
            on_step(number + 1, steps)
    if graphed is not None:
        total.add_(graphed.take_total())
    return distributed.total(total.item(), run.shard, run.device) / usable


def end_epoch(run: Run, train_loss: float, val_loss: float, seconds: float, out: Path) -> EpochReport:
    """Count the epoch (a better validation loss becomes the best; warm-up epochs neither count nor become best) and
    save the run's state. A loss that is not finite stops the run, the saved state staying at the last good epoch."""
    state = run.state
    if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
        raise UserError(f"training diverged in epoch {state.epoch + 1} (the loss is not finite); {state_path(out)} "
                        f"keeps epoch {state.epoch}: try a lower learning rate or gradient clipping",
                        parameters=("lr", "grad_clip"))
    comparable = run.model.comparable_epoch(state.epoch)
    state.epoch += 1
    if comparable and val_loss < state.best_val_loss:
        state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, state.epoch, 0
        run.best_weights = _snapshot(run.model)
    elif comparable:
        state.bad_epochs += 1
    state.seconds += seconds
    state.history.append({"epoch": state.epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds,
                          "lr": run.optimizer.param_groups[0]["lr"]})
    return EpochReport(state.epoch, train_loss, val_loss, state.best_val_loss, state.best_epoch, seconds)


def save_state(run: Run, model_config: ModelConfig, config: TrainConfig, out: Path, metadata: dict) -> None:
    """The resumable state after an epoch (written by the first process only)."""
    if not run.shard.is_main:
        return
    extra = {"train_config": asdict(config), "optimizer": run.optimizer.state_dict(), "best_weights": run.best_weights,
             "shuffle_rng": run.shuffle.get_state(), "noise_rng": run.noise.get_state().cpu(),
             "state": asdict(run.state)}
    save_checkpoint(state_path(out), model_config, run.model.state_dict(), metadata, "training-state", extra)


def finish_run(run: Run, model_config: ModelConfig, config: TrainConfig, out: Path, metadata: dict) -> None:
    """Keep the best weights (a run that ended within a warm-up keeps its last) and write the checkpoint with the
    run's record in its metadata."""
    state = run.state
    state.stopped = "early stopping" if state.bad_epochs >= config.patience else "max epochs"
    if state.best_epoch:
        run.model.load_state_dict(run.best_weights)
    processes = f" x {run.shard.world} processes" if run.shard.world > 1 else ""
    record = dict(metadata, train_config=asdict(config), epochs_run=state.epoch, best_epoch=state.best_epoch,
                  best_val_loss=state.best_val_loss, lr_decays_done=state.lr_decays_done, stopped_by=state.stopped,
                  train_seconds=round(state.seconds, 1),
                  machine=f"{platform.machine()}, {run.device.type}, {torch.get_num_threads()} thread(s){processes}",
                  torch_version=str(torch.__version__), history=state.history)
    if run.shard.is_main:
        save_checkpoint(out, model_config, run.model.state_dict(), record)
    distributed.barrier(run.shard)


def train_model(
    model_config: ModelConfig,
    config: TrainConfig,
    train_frames: np.ndarray,
    val_frames: np.ndarray,
    out: Path,
    device: torch.device,
    resume: bool | Checkpoint = False,
    metadata: dict[str, Any] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> tuple[SpectralVAE, TrainState]:
    """Train, saving the resumable state after each epoch and the best weights to `out` at the end.

    train_frames, val_frames: (N, F) float32 power frames, in memory or memory-mapped (the frame store): they are
    streamed a mini-batch at a time, never loaded whole. resume: continue the run saved next to `out` (True, or its
    state as check_run returned it); without it, a checkpoint or state already at `out` is refused unless
    `overwrite`. Returns the model with the best weights and the run's final state.
    """
    if len(train_frames) == 0 or len(val_frames) == 0:
        raise UserError("no training or validation frames (are the files silent or unreadable?)")
    saved = resume if isinstance(resume, Checkpoint) else check_run(out, model_config, config, bool(resume), overwrite)
    run = start_run(model_config, config, train_frames, device, saved)
    train_frames = resident(train_frames, run.device)  # on a GPU with room: gathered there, no copy per batch
    metadata = metadata or {}
    while run.state.epoch < config.max_epochs:
        if run.state.bad_epochs >= config.patience:
            if run.state.lr_decays_done >= config.lr_decays:
                break
            run.decay()
        started = time.perf_counter()
        train_loss = train_epoch(run, config, train_frames, on_step)
        val_loss = validation_loss(run.model, val_frames, run.device, config)  # the same in every process
        report = end_epoch(run, train_loss, val_loss, time.perf_counter() - started, out)
        save_state(run, model_config, config, out, metadata)
        if on_epoch and run.shard.is_main:
            on_epoch(report)
    finish_run(run, model_config, config, out, metadata)
    return run.model.eval(), run.state
