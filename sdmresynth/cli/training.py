"""The heavy half of `sdmresynth train` (it imports torch): the parsed command, its frames with a progress bar, and
the run with a line per epoch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from ..training.config import TrainConfig, configs_from_settings
from ..training.framestore.layout import bytes_per_hour
from ..training.framestore.store import cache_size
from ..training.loop import train_model
from ..training.sets import FrameSet, TrainingFiles, load_sets, run_record
from ..training.state import EpochReport, check_run, state_path
from ..workers import StartedPool


@dataclass(frozen=True)
class Plan:
    """A training command, parsed: the configurations, the files, where the run goes and how it runs."""

    model_config: ModelConfig
    train_config: TrainConfig
    files: TrainingFiles
    sources: dict[str, list[str]]
    out: Path | None
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
        return cls(model_config, train_config, files, sources, options["out"], cache_dir, options["device"],
                   options["threads"], options["resume"], options["overwrite"])


def prepare(plan: Plan) -> Checkpoint | None:
    """Set the threads, check the device, the output and the run to resume; the saved state (None if not resuming)."""
    if plan.threads > 0:
        torch.set_num_threads(plan.threads)
    resolve_device(plan.device)
    return check_run(plan.out, plan.model_config, plan.train_config, plan.resume, plan.overwrite)


def load(plan: Plan, workers: int | StartedPool, console: Console) -> dict[str, FrameSet]:
    """The training and validation frames with a progress bar; prints the notices, the store and the sets."""
    for notice in plan.files.notices:
        console.print(f"[yellow]note[/] {escape(notice)}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        tasks = {name: progress.add_task(f"reading {name} audio", total=len(paths))
                 for name, paths in plan.files.sets().items()}
        sets = load_sets(plan.files, StftConfig(), plan.cache_dir, workers, plan.train_config.frame_precision,
                         lambda name, done, total: progress.update(tasks[name], completed=done))
    if plan.cache_dir:
        per_hour = round(bytes_per_hour(StftConfig(), plan.train_config.frame_precision) / 1e7) * 10  # MB, to the ten
        console.print(f"frame store: {escape(str(plan.cache_dir))} ({format_size(cache_size(plan.cache_dir))} in all; "
                      f"about {per_hour} MB per hour of audio; `sdmresynth cache` lists and clears it)")
    for name, frame_set in sets.items():
        for reason in frame_set.skipped:
            console.print(f"[yellow]skipped[/] {escape(reason)}")
        console.print(f"{name}: {len(frame_set.files)} files, {len(frame_set.frames)} frames")
    return sets


def train_and_report(plan: Plan, saved: Checkpoint | None, sets: dict[str, FrameSet], console: Console) -> None:
    """Train, print one line per epoch and a summary; Ctrl-C says what was saved."""
    saved_epochs = [saved.extra["state"]["epoch"] if saved else 0]

    def on_epoch(report: EpochReport) -> None:
        saved_epochs.append(report.epoch)
        best = (f"best {report.best_val_loss:10.3f} (epoch {report.best_epoch})" if report.best_epoch
                else "best    warm-up (not compared)")
        console.print(f"epoch {report.epoch:4d}  train {report.train_loss:10.3f}  val {report.val_loss:10.3f}  "
                      f"{best}  {report.seconds:5.1f}s")

    with Progress(TextColumn("epoch steps"), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("steps", total=None)

        def on_step(step: int, steps: int) -> None:
            if step % 64 == 0 or step == steps:
                progress.update(task, completed=step, total=steps)

        try:
            _, state = train_model(plan.model_config, plan.train_config, sets["train"].frames, sets["val"].frames,
                                   plan.out, resolve_device(plan.device), saved or plan.resume,
                                   run_record(sets, plan.sources, StftConfig()), on_epoch, on_step, plan.overwrite)
        except KeyboardInterrupt:
            if saved_epochs[-1]:
                raise UserError(f"interrupted; epoch {saved_epochs[-1]} is saved in {state_path(plan.out)}: rerun with "
                                "--resume to continue") from None
            raise UserError("interrupted in epoch 1: no epoch finished, nothing was saved") from None
    best = (f"best validation loss {state.best_val_loss:.3f} at epoch {state.best_epoch}" if state.best_epoch else
            "all within the warm-up, whose losses are not compared: the last epoch's weights")
    console.print(f"done: {state.epoch} epochs ({state.stopped}), {best}, {state.seconds / 60:.1f} min; "
                  f"wrote {escape(str(plan.out))}")
