"""The heavy half of `sdmresynth train` (it imports torch): the parsed command, its frames with a progress bar, and
the run with a line per epoch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..device import resolve_device
from ..dsp.stft import StftConfig
from ..errors import UserError
from ..io.atomic import format_size
from ..models import ModelConfig
from ..models.checkpoint import Checkpoint
from ..training import distributed
from ..training.config import TrainConfig, configs_from_settings
from ..training.framestore.layout import bytes_per_hour
from ..training.framestore.store import cache_size
from ..training.loop import train_model
from ..training.sets import FrameSet, TrainingFiles, load_sets, run_record
from ..training.state import EpochReport, check_run, load_epoch, state_path
from ..training.sweep import check_sweep, sweep_outputs, train_sweep
from ..training.sweep_processes import sweep_processes, train_sweep_in_processes
from ..workers import StartedPool


@dataclass(frozen=True)
class Plan:
    """A training command, parsed: the configurations (one per model: several for a sweep over seeds), the files,
    where each model goes and how the run goes."""

    model_config: ModelConfig
    train_configs: list[TrainConfig]
    outs: list[Path]
    files: TrainingFiles
    sources: dict[str, list[str]]
    cache_dir: Path | None
    device: str
    threads: int
    resume: bool
    overwrite: bool

    @classmethod
    def from_options(cls, options: dict[str, Any], files: TrainingFiles, cache_dir: Path | None) -> "Plan":
        """The plan of `sdmresynth train`'s parsed options."""
        model_config, train_config = configs_from_settings(options)
        if options["train_lists"]:
            sources = {"train": [str(p) for p in options["train_lists"]], "val": [str(p) for p in options["val_lists"]]}
        else:
            sources = {name: [f"speaker split of {options['data']}"] for name in ("train", "val")}
        configs, outs = [train_config], [options["out"]]
        if options.get("seeds"):
            configs = [replace(train_config, seed=seed) for seed in options["seeds"]]
            check_sweep(configs, model_config)
            outs = sweep_outputs(options["out"], configs) if options["out"] else [None] * len(configs)
        return cls(model_config, configs, outs, files, sources, cache_dir, options["device"], options["threads"],
                   options["resume"], options["overwrite"])

    @property
    def frame_precision(self) -> str:
        return self.train_configs[0].frame_precision


def prepare(plan: Plan) -> list[Checkpoint | None]:
    """Set the threads, check the device, each output and the runs to resume; the saved states (None where a model
    starts afresh)."""
    if plan.threads > 0:
        torch.set_num_threads(plan.threads)
    resolve_device(plan.device)
    return [check_run(out, plan.model_config, config, plan.resume, plan.overwrite)
            for out, config in zip(plan.outs, plan.train_configs)]


def load(plan: Plan, workers: int | StartedPool, console: Console) -> dict[str, FrameSet]:
    """The training and validation frames with a progress bar; prints the notices, the store and the sets."""
    for notice in plan.files.notices:
        console.print(f"[yellow]note[/] {escape(notice)}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        tasks = {name: progress.add_task(f"reading {name} audio", total=len(paths))
                 for name, paths in plan.files.sets().items()}
        sets = load_sets(plan.files, StftConfig(), plan.cache_dir, workers, plan.frame_precision,
                         lambda name, done, total: progress.update(tasks[name], completed=done))
    if plan.cache_dir:
        per_hour = round(bytes_per_hour(StftConfig(), plan.frame_precision) / 1e7) * 10  # MB, to the ten
        console.print(f"frame store: {escape(str(plan.cache_dir))} ({format_size(cache_size(plan.cache_dir))} in all; "
                      f"about {per_hour} MB per hour of audio; `sdmresynth cache` lists and clears it)")
    for name, frame_set in sets.items():
        for reason in frame_set.skipped:
            console.print(f"[yellow]skipped[/] {escape(reason)}")
        console.print(f"{name}: {len(frame_set.files)} files, {len(frame_set.frames)} frames")
    return sets


def _epoch_line(report: EpochReport, label: str) -> str:
    best = (f"best {report.best_val_loss:10.3f} (epoch {report.best_epoch})" if report.best_epoch
            else "best    warm-up (not compared)")
    return (f"{label}epoch {report.epoch:4d}  train {report.train_loss:10.3f}  val {report.val_loss:10.3f}  {best}  "
            f"{report.seconds:5.1f}s")


def _train(plan: Plan, saved: list[Checkpoint | None], sets: dict[str, FrameSet], console: Console,
           on_step) -> list:
    """One model, or a sweep of them side by side; prints a line per model and epoch. The final states."""
    frames = sets["train"].frames, sets["val"].frames
    record = run_record(sets, plan.sources, StftConfig())
    device = resolve_device(plan.device)
    if len(plan.train_configs) == 1:
        _, state = train_model(plan.model_config, plan.train_configs[0], *frames, plan.outs[0], device,
                               saved[0] or plan.resume, record, lambda r: console.print(_epoch_line(r, "")), on_step,
                               plan.overwrite)
        return [state]
    labels = [f"seed {c.seed:<3d} " for c in plan.train_configs]

    def on_epoch(model: int, report: EpochReport) -> None:
        console.print(_epoch_line(report, labels[model]))

    threads = torch.get_num_threads()
    processes = sweep_processes(len(plan.train_configs), threads, device)
    if processes > 1:
        console.print(f"sweep: {processes} processes of {threads // processes} thread(s), "
                      f"{len(plan.train_configs) / processes:.3g} models each on average")
        if isinstance(frames[0], np.ndarray):  # a frame store's mapping is shared; frames in memory are copied
            copy = format_size(sum(f.nbytes for f in frames))
            console.print(f"[yellow]note[/] the frames are held in memory (--no-cache): each process gets its own copy "
                          f"({copy}); the frame store would share one")
        return train_sweep_in_processes(processes, threads, plan.model_config, plan.train_configs, *frames, plan.outs,
                                        saved, record, on_epoch, on_step, plan.overwrite)
    return train_sweep(plan.model_config, plan.train_configs, *frames, plan.outs, device, saved, record, on_epoch,
                       on_step, plan.overwrite)


def train_and_report(plan: Plan, saved: list[Checkpoint | None], sets: dict[str, FrameSet], console: Console) -> None:
    """Train, print one line per epoch (and model) and a summary; Ctrl-C says what was saved."""
    with Progress(TextColumn("epoch steps"), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("steps", total=None)

        def on_step(step: int, steps: int) -> None:
            if step % 64 == 0 or step == steps:
                progress.update(task, completed=step, total=steps)

        try:
            states = _train(plan, saved, sets, console, on_step)
            distributed.stop()
        except KeyboardInterrupt:
            saved_now = [load_epoch(state_path(out)) for out in plan.outs]
            if any(saved_now):
                where = ", ".join(f"epoch {e} in {state_path(out)}" for e, out in zip(saved_now, plan.outs) if e)
                raise UserError(f"interrupted; saved: {where}: rerun with --resume to continue") from None
            raise UserError("interrupted in epoch 1: no epoch finished, nothing was saved") from None
    for state, out in zip(states, plan.outs):
        best = (f"best validation loss {state.best_val_loss:.3f} at epoch {state.best_epoch}" if state.best_epoch else
                "all within the warm-up, whose losses are not compared: the last epoch's weights")
        console.print(f"done: {state.epoch} epochs ({state.stopped}), {best}, {state.seconds / 60:.1f} min; "
                      f"wrote {escape(str(out))}")
