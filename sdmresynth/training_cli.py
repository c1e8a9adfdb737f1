"""`sdmresynth train`: the model and training settings from the options, then train_model on the loaded frames with
a progress display, and the result."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .checkpoint import Checkpoint
from .data import FrameSet
from .device import resolve_device
from .errors import UserError
from .models import ModelConfig
from .stft import StftConfig
from .train import EpochReport, TrainConfig, check_run, state_path, train_model
from .training_data import load_sets
from .workers import StartedPool


# The recipe of the shipped models (the default) and the official code's setting (--paper-protocol); an option
# given on the command line overrides either.
RECIPE = {"input_transform": "log", "standardise_input": True, "lr": 1e-3, "grad_clip": 2000.0}
PAPER_PROTOCOL = {"input_transform": "power", "standardise_input": False, "lr": 1e-4, "grad_clip": 0.0}


# Options that only one kind of model has: given to another, they would be ignored without a word.
ONLY_FOR = {"sdm-vae": ("dictionary", "atoms"),
            "vsc": ("alpha", "pseudo_inputs", "selector_sharpness", "selector_anneal", "slab_warmup")}


def check_options_apply(model_type: str, given: set[str]) -> None:
    """Refuse options given on the command line that the model type does not have."""
    for owner, names in ONLY_FOR.items():
        stray = [name for name in names if name in given and model_type != owner]
        if stray:
            flags = ", ".join("--" + name.replace("_", "-") for name in stray)
            raise UserError(f"{flags}: only for --model-type {owner}, not {model_type}")


def configs_from_options(options: dict) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configurations from `sdmresynth train`'s options."""
    defaults = PAPER_PROTOCOL if options.get("paper_protocol") else RECIPE
    options = options | {k: v for k, v in defaults.items() if options.get(k) is None}
    model_type = options["model_type"]
    latent_dim = options["latent_dim"]
    sdm = model_type == "sdm-vae"
    try:
        model_config = ModelConfig(
            model_type=model_type, latent_dim=latent_dim, hidden_dim=options["hidden_dim"],
            linear_skip=options.get("linear_skip", False),
            dictionary=options["dictionary"] if sdm else "identity",
            atoms=(options["atoms"] or latent_dim) if sdm else latent_dim,
            input_transform=options["input_transform"], standardise_input=options["standardise_input"],
            alpha=options["alpha"], pseudo_inputs=options["pseudo_inputs"],
            selector_sharpness=options["selector_sharpness"],
            selector_sharpness_start=options["selector_anneal"][0],
            selector_anneal_epochs=options["selector_anneal"][1],
            slab_warmup_start=options["slab_warmup"][0],
            slab_warmup_end=options["slab_warmup"][1])
    except ValueError as error:
        raise UserError(str(error)) from None
    train_config = TrainConfig(lr=options["lr"], batch_size=options["batch_size"], patience=options["patience"],
                               max_epochs=options["max_epochs"], seed=options["seed"], grad_clip=options["grad_clip"],
                               lr_decays=options["lr_decays"], frame_precision=options["frame_precision"])
    return model_config, train_config


class Prepared(NamedTuple):
    """What a run needs before it trains: its device, the state it resumes (or None) and its frame sets."""
    device: torch.device
    saved: Checkpoint | None
    sets: dict[str, FrameSet]


def prepare_training(model_config: ModelConfig, train_config: TrainConfig,
                     files: tuple[list[Path], list[Path], list[str]], out: Path, device_name: str, threads: int,
                     resume: bool, cache_dir: Path | None, workers: int | StartedPool, console: Console) -> Prepared:
    """Set the threads, find the device, check --out and --resume, then load the frames (the store built on
    `workers` processes the first time)."""
    if threads > 0:
        torch.set_num_threads(threads)
    device = resolve_device(device_name)
    saved = check_run(out, model_config, train_config, resume)  # before reading audio: minutes on a corpus
    return Prepared(device, saved, load_sets(files, StftConfig(), cache_dir, workers, train_config.frame_precision,
                                             console))


def run_training(model_config: ModelConfig, train_config: TrainConfig, prepared: Prepared,
                 sources: dict[str, list[str]], out: Path, resume: bool, console: Console) -> None:
    """Train, print one line per epoch and a summary."""
    device, saved, sets = prepared
    stft_config = StftConfig()
    metadata = {
        "data_sources": sources,
        "train_files": len(sets["train"].files),
        "val_files": len(sets["val"].files),
        "train_frames": len(sets["train"].frames),
        "val_frames": len(sets["val"].frames),
        "skipped_files": sets["train"].skipped + sets["val"].skipped,
        "stft": {"sample_rate": stft_config.sample_rate, "n_fft": stft_config.n_fft, "hop": stft_config.hop},
    }

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
            _, state = train_model(model_config, train_config, sets["train"].frames, sets["val"].frames, out, device,
                                   resume=resume, metadata=metadata, on_epoch=on_epoch, on_step=on_step)
        except KeyboardInterrupt:
            if saved_epochs[-1]:
                raise UserError(f"interrupted; epoch {saved_epochs[-1]} is saved in {state_path(out)}: rerun with "
                                "--resume to continue") from None
            raise UserError("interrupted in epoch 1: no epoch finished, nothing was saved") from None
    best = (f"best validation loss {state.best_val_loss:.3f} at epoch {state.best_epoch}" if state.best_epoch else
            "all within the warm-up, whose losses are not compared: the last epoch's weights")
    console.print(f"done: {state.epoch} epochs ({state.stopped}), {best}, {state.seconds / 60:.1f} min; "
                  f"wrote {escape(str(out))}")
