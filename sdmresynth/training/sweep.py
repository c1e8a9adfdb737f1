"""Several models of one shape trained side by side: a sweep over seeds (and the settings that keep
the tensor shapes: learning rate, KL weight, mean weight).

Each model is a run of its own (`loop.Run`: its seed's weights, shuffling and noise, its optimiser, early stopping,
learning-rate decays, saved state and checkpoint, in the formats of a single run, which can resume it alone), but the
training steps of the models still training are computed together: their weights are stacked along a first axis and
one vectorised forward and backward pass (torch.func.vmap over functional_call) serves them all. The noise each
model's forward pass needs is drawn beforehand from its own generator, in the order and shape its single run draws it,
so that each model's run equals its single run up to float rounding. A model that stops leaves the stack at the end of
its epoch; the others go on unchanged. That is how a sweep trains on a GPU, where the stacking saves kernel launches;
on a CPU, where it measured slower than the models' own steps, each model's epoch runs in turn instead (exactly its
single run's), with the rest of the sweep (one process or a few, states, checkpoints, early stopping) unchanged.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import UserError
from ..models import DrawnNoise, ModelConfig, Noise, SpectralVAE
from ..models.checkpoint import Checkpoint
from . import distributed
from .config import TrainConfig
from .graphs import StepGraph, use_graphs
from .loop import (Run, adam_steps, end_epoch, finish_run, save_state, start_run, train_epoch, usable_frames,
                   validation_loss)
from .minibatches import batches, resident
from .state import EpochReport, TrainState, check_run

# The settings that may differ between the models of a sweep: they keep the tensor shapes (and the batches' count).
PER_MODEL = ("seed", "lr", "kl_weight", "mean_weight")


def sweep_outputs(out: Path, configs: list[TrainConfig]) -> list[Path]:
    """Where each model of a sweep is written: OUT-seedN.pt (and, for settings that differ too, -lrX, -klX, -meanX)."""
    differing = [name for name in PER_MODEL[1:] if len({getattr(c, name) for c in configs}) > 1]
    labels = {"lr": "lr", "kl_weight": "kl", "mean_weight": "mean"}
    return [out.with_name(out.stem + f"-seed{c.seed}" + "".join(f"-{labels[n]}{getattr(c, n):g}" for n in differing)
                          + out.suffix) for c in configs]


def check_sweep(configs: list[TrainConfig], model_config: ModelConfig) -> None:
    """Refuse a sweep whose models differ in more than PER_MODEL, that names one model twice, or that it cannot
    batch."""
    if model_config.inference_steps:  # their gradient input is autograd inside the forward, which vmap cannot batch
        raise UserError("a sweep trains models without learned inference steps (train those one run at a time)",
                        parameters=("seeds",))
    shared = [replace(c, **{name: getattr(configs[0], name) for name in PER_MODEL}) for c in configs]
    if any(c != shared[0] for c in shared):
        raise UserError(f"the models of a sweep may differ only in {', '.join(PER_MODEL)}")
    if configs[0].objective != "elbo" or configs[0].train_only:
        raise UserError("a sweep trains whole models on the ELBO (not train_only, nor the refinement's objective)")
    if len({tuple(getattr(c, n) for n in PER_MODEL) for c in configs}) < len(configs):
        raise UserError("a sweep names the same model twice (same seed and settings)", parameters=("seeds",))


class Objective(nn.Module):
    """One model's training loss on a batch, as a module, so that functional_call can give it stacked weights: the
    loss (reconstruction + kl_weight x KL) plus mean_weight x the IS divergence of the decoded posterior mean."""

    def __init__(self, model: SpectralVAE, with_mean: bool) -> None:
        super().__init__()
        self.model, self.with_mean = model, with_mean

    def forward(self, power: torch.Tensor, kl_weight: torch.Tensor, mean_weight: torch.Tensor,
                *draws: torch.Tensor) -> torch.Tensor:
        result = self.model(power, DrawnNoise(list(draws)))
        loss = self.model.loss(power, result, kl_weight)["loss"]
        if self.with_mean:  # as SpectralVAE.loss adds it
            decoded = self.model.decode(self.model.to_latent(result.posterior.mu))
            loss = loss + mean_weight * self.model.divergence(power, decoded).mean()
        return loss


def _clip_each(weights: list[list[torch.Tensor]], max_norm: float) -> None:
    """Clip each model's gradient to a global norm of max_norm, as clip_grad_norm_ does, with one norm computation
    for all of them."""
    grads = [[p.grad for p in w if p.grad is not None] for w in weights]
    norms = torch.stack(torch._foreach_norm([g for model in grads for g in model])).view(len(grads), -1)
    factors = (max_norm / (norms.pow(2).sum(1).sqrt() + 1e-6)).clamp(max=1.0)
    for model, factor in zip(grads, factors):
        torch._foreach_mul_(model, factor)


def train_epoch_together(runs: list[Run], configs: list[TrainConfig], frames: np.ndarray | torch.Tensor,
                         on_step: Callable[[int, int], None] | None = None, graphs: bool | None = None) -> list[float]:
    """One epoch of every run, the forward and backward passes of all of them as one computation; each run's mean
    training loss per frame. Each step stacks the models' weights (M, ...), so that one vectorised pass serves them
    all and the gradients land in each model's own weights, which its own optimiser then moves, as in its own run.
    graphs: replay the full batches' steps from a CUDA graph (graphs.py; None: where use_graphs says so)."""
    shard, device, config = runs[0].shard, runs[0].device, configs[0]
    usable = usable_frames(len(frames), config, shard)
    steps = -(-usable // config.batch_size)
    for run in runs:
        run.model.start_epoch(run.state.epoch)
    orders = np.stack([torch.randperm(len(frames), generator=r.shuffle)[:usable].numpy() for r in runs])
    names = [name for name, _ in runs[0].model.named_parameters()]
    weights = [list(r.model.parameters()) for r in runs]
    buffers = {n: torch.stack([dict(r.model.named_buffers())[n] for r in runs]) for n, _ in
               runs[0].model.named_buffers()}
    objective = Objective(runs[0].model, any(c.mean_weight for c in configs))
    factors = [torch.tensor([getattr(c, name) for c in configs], device=device) for name in ("kl_weight",
                                                                                              "mean_weight")]

    def loss(params, buffers, power, kl_weight, mean_weight, *draws):
        state = {**{f"model.{n}": p for n, p in params.items()}, **{f"model.{n}": b for n, b in buffers.items()}}
        return functional_call(objective, state, (power, kl_weight, mean_weight, *draws))

    batched = vmap(loss)
    totals = torch.zeros(len(runs), dtype=torch.float64, device=device)

    def step(power: torch.Tensor, *draws: torch.Tensor) -> torch.Tensor:  # power (M, B, F), draws (M, B, code_dim)
        params = {n: torch.stack([w[i] for w in weights]) for i, n in enumerate(names)}  # (M, ...)
        for run in runs:
            run.optimizer.zero_grad(set_to_none=True)
        losses = batched(params, buffers, power, *factors, *draws)
        losses.sum().backward()  # each model's loss depends on its weights alone: its own gradient
        distributed.average([p.grad for w in weights for p in w if p.grad is not None], shard)
        if config.grad_clip:
            _clip_each(weights, config.grad_clip)
        adam_steps(runs)
        return losses.detach().double() * power.shape[1]

    # a graph per epoch: the stacked weights and buffers it reads are made anew each epoch
    graphed = StepGraph(step) if use_graphs(graphs, device, shard, [r.optimizer for r in runs]) else None
    like = torch.empty(config.batch_size // shard.world, runs[0].model.config.code_dim, device=device)
    for number, power in enumerate(batches(frames, orders, config.batch_size, shard.rank, shard.world, device)):
        rows = power.shape[1]
        per_run = [Noise(r.noise, r.shard.rank, r.shard.world).draws(r.model.NOISE_DRAWS, like[:rows]) for r in runs]
        draws = [torch.stack(kind) for kind in zip(*per_run)]  # each model's noise, as its own run draws it
        if graphed is not None and rows == len(like):
            graphed(power, *draws)
        else:
            totals.add_(step(power, *draws))
        if on_step:
            on_step(number + 1, steps)
    if graphed is not None:
        totals.add_(graphed.take_total())
    return [distributed.total(float(t), shard, device) / usable for t in totals]


def train_epochs_in_turn(runs: list[Run], configs: list[TrainConfig], frames: np.ndarray | torch.Tensor,
                         on_step: Callable[[int, int], None] | None = None) -> list[float]:
    """One epoch of every run, each exactly its single run's epoch, one after another: on a CPU the stacked
    computation was slower than this (its batched matrix products and the copies that stack the weights cost more
    than the calls they save: benchmarks/RESULTS.md, training). on_step counts the steps of all of them."""
    losses = []
    for m, (run, config) in enumerate(zip(runs, configs)):
        counted = None if on_step is None else (lambda step, steps, m=m: on_step(m * steps + step, len(runs) * steps))
        losses.append(train_epoch(run, config, frames, counted))
    return losses


def _active(run: Run, config: TrainConfig) -> bool:
    """Whether a run trains another epoch (after a decay, if its plateau calls for one)."""
    if run.state.epoch >= config.max_epochs:
        return False
    if run.state.bad_epochs >= config.patience:
        if run.state.lr_decays_done >= config.lr_decays:
            return False
        run.decay()
    return True


def train_sweep(model_config: ModelConfig, configs: list[TrainConfig], train_frames: np.ndarray,
                val_frames: np.ndarray, outs: list[Path], device: torch.device,
                resume: bool | list[Checkpoint | None] = False, metadata: dict | None = None,
                on_epoch: Callable[[int, EpochReport], None] | None = None,
                on_step: Callable[[int, int], None] | None = None, overwrite: bool = False,
                stacked: bool | None = None) -> list[TrainState]:
    """Train one model per TrainConfig (they may differ in PER_MODEL only) together, each saving its resumable state
    after every epoch to its `outs` path's state file and its best weights to that path at its end, as a single run
    would. resume: continue each saved run (True, or the states check_run returned: None for a model to start).
    on_epoch(model index, report). stacked: the models' steps as one computation (None: on a GPU; on a CPU each
    model's own epoch in turn, which measured faster there). Returns each model's final state."""
    check_sweep(configs, model_config)
    if len(train_frames) == 0 or len(val_frames) == 0:
        raise UserError("no training or validation frames (are the files silent or unreadable?)")
    saved = resume if isinstance(resume, list) else [check_run(o, model_config, c, bool(resume), overwrite)
                                                     for o, c in zip(outs, configs)]
    runs = [start_run(model_config, c, train_frames, device, s) for c, s in zip(configs, saved)]
    train_frames = resident(train_frames, runs[0].device)  # on a GPU with room: gathered there, no copy per batch
    stacked = runs[0].device.type == "cuda" if stacked is None else stacked
    if stacked and runs[0].shard.world > 1:  # the stacked step averages the gradients itself
        for run in runs:
            run.network = run.model
    metadata = metadata or {}
    epoch = train_epoch_together if stacked else train_epochs_in_turn
    while active := [m for m, (r, c) in enumerate(zip(runs, configs)) if _active(r, c)]:
        started = time.perf_counter()
        losses = epoch([runs[m] for m in active], [configs[m] for m in active], train_frames, on_step)
        seconds = (time.perf_counter() - started) / len(active)  # each model's share of the epoch
        for m, train_loss in zip(active, losses):
            run, config = runs[m], configs[m]
            val_loss = validation_loss(run.model, val_frames, run.device, config)
            report = end_epoch(run, train_loss, val_loss, seconds, outs[m])
            save_state(run, model_config, config, outs[m], metadata)
            if on_epoch and run.shard.is_main:
                on_epoch(m, report)
    for run, config, out in zip(runs, configs, outs):
        finish_run(run, model_config, config, out, metadata)
    return [run.state for run in runs]
