"""`sdmresynth train`: gather data, run train_model with a progress display, report the result."""

from __future__ import annotations

from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .data import (FrameSet, cache_size, find_audio, format_size, load_frames, read_list, speaker_of,
                   split_by_speaker)
from .device import resolve_device
from .errors import UserError
from .models import ModelConfig
from .stft import StftConfig
from .store import bytes_per_hour
from .train import EpochReport, TrainConfig, check_run, state_path, train_model


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


def gather_files(data: Path | None, train_lists: tuple[Path, ...],
                 val_lists: tuple[Path, ...]) -> tuple[list[Path], list[Path], list[str]]:
    """Train and validation files from --train/--val lists, or a speaker split of --data; and notices."""
    if train_lists:
        if not val_lists:
            raise UserError("--train needs --val (a speaker-disjoint validation list)")
        train = [p for lst in train_lists for p in read_list(lst)]
        val = [p for lst in val_lists for p in read_list(lst)]
        shared = len(set(val) & set(train))
        notices = [f"{shared} of the {len(val)} validation files are also training files: the validation loss that "
                   "chooses the best epoch and stops training will flatter the model"] if shared else []
        return train, val, notices
    if data is None:
        raise UserError("give --data DIR or --train LIST --val LIST")
    files = find_audio(data)
    if not files:
        raise UserError(f"{data}: no audio files found")
    if len(files) < 2:
        raise UserError(f"{data}: need at least two audio files (one for validation)")
    notices = []
    if len({speaker_of(p) for p in files}) < 2:
        notices.append(f"{data}: one speaker only (one folder): validation files share the training speaker")
    return (*split_by_speaker(files), notices)


def load_sets(files: tuple[list[Path], list[Path], list[str]], stft_config: StftConfig, cache_dir: Path | None,
              workers: int, precision: str, console: Console) -> dict[str, FrameSet]:
    """The training and validation frames, from the frame store in cache_dir (built on `workers` processes the first
    time) or computed in memory, with a progress bar; prints the notices, the store and what each set holds."""
    train_files, val_files, notices = files
    for notice in notices:
        console.print(f"[yellow]note[/] {escape(notice)}")
    sets = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        for name, paths in (("train", train_files), ("val", val_files)):
            task = progress.add_task(f"reading {name} audio", total=len(paths))
            sets[name] = load_frames(paths, stft_config, cache_dir, lambda n: progress.advance(task, n), workers,
                                     precision)
    if cache_dir:
        per_hour = round(bytes_per_hour(stft_config, precision) / 1e7) * 10  # MB, to the ten
        console.print(f"frame store: {escape(str(cache_dir))} ({format_size(cache_size(cache_dir))} in all; "
                      f"about {per_hour} MB per hour of audio; `sdmresynth cache` lists and clears it)")
    for name, frame_set in sets.items():
        for reason in frame_set.skipped:
            console.print(f"[yellow]skipped[/] {escape(reason)}")
        console.print(f"{name}: {len(frame_set.files)} files, {len(frame_set.frames)} frames")
    return sets


def run_training(
    model_config: ModelConfig,
    train_config: TrainConfig,
    files: tuple[list[Path], list[Path], list[str]],
    sources: dict[str, list[str]],
    out: Path,
    device_name: str,
    threads: int,
    resume: bool,
    cache_dir: Path | None,
    console: Console,
    workers: int = 0,
) -> None:
    """Open the frame store (built on `workers` processes the first time), train, print one line per epoch and a
    summary."""
    if threads > 0:
        torch.set_num_threads(threads)
    device = resolve_device(device_name)
    saved = check_run(out, model_config, train_config, resume)  # before reading audio: minutes on a corpus
    stft_config = StftConfig()
    sets = load_sets(files, stft_config, cache_dir, workers, train_config.frame_precision, console)
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
