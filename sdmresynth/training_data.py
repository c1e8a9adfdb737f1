"""The files a training run reads and their frames: the training and validation lists, and their frame sets from the
frame store (built on worker processes started ahead) or computed in memory."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .data import (FrameSet, cache_size, find_audio, format_size, frames_stored, load_frames, read_list, speaker_of,
                   split_by_speaker)
from .errors import UserError
from .stft import StftConfig
from .store import bytes_per_hour
from .workers import StartedPool, worker_count


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
              workers: int | StartedPool, precision: str, console: Console) -> dict[str, FrameSet]:
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


@contextmanager
def store_workers(files: tuple[list[Path], list[Path], list[str]], stft_config: StftConfig, cache_dir: Path | None,
                  workers: int, precision: str) -> Iterator[int | StartedPool]:
    """What load_sets should build on: where a store of the files is still to be built here, `workers` processes
    started now (this one included), so that their start-up overlaps the caller's own (importing torch takes
    longer) and the training and validation builds share them; otherwise `workers`, which starts nothing. Under
    torchrun only the first process of each node starts them (the others find the store built, or wait for it)."""
    building = (cache_dir is not None and worker_count(workers) > 1 and os.environ.get("LOCAL_RANK", "0") == "0"
                and not all(frames_stored(paths, stft_config, cache_dir, precision) for paths in files[:2]))
    if not building:
        yield workers
        return
    from .store_build import started_workers

    with started_workers(workers) as pool:
        yield pool
