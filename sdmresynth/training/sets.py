"""The files a training run reads and their frames: the training and validation lists (or a speaker split of a
folder), and their frames from the frame store (built on worker processes, started ahead where a build is due) or
computed in memory."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..dsp.stft import StftConfig
from ..errors import UserError
from ..io.corpus import find_audio, read_list, speaker_of, split_by_speaker
from ..workers import StartedPool, worker_count
from .features import TRIM_TOP_DB, file_frames
from .framestore.build import started_workers
from .framestore.layout import StoredFrames
from .framestore.precision import check_precision, rounded
from .framestore.store import is_built, open_store


@dataclass
class TrainingFiles:
    """The files of a run: training and validation (speaker-disjoint), and notices about how they were chosen."""

    train: list[Path]
    val: list[Path]
    notices: list[str] = field(default_factory=list)

    def sets(self) -> dict[str, list[Path]]:
        """{"train": ..., "val": ...}, in that order."""
        return {"train": self.train, "val": self.val}


@dataclass
class FrameSet:
    """Frames of a set of files, stacked: (N, F) float32 (in memory, or read-only from the memory-mapped frame
    store), and the files that could not be read."""

    frames: np.ndarray | StoredFrames
    files: list[str]
    skipped: list[str] = field(default_factory=list)


def gather_files(data: Path | None, train_lists: tuple[Path, ...] = (),
                 val_lists: tuple[Path, ...] = ()) -> TrainingFiles:
    """Train and validation files from train and validation lists, or a speaker split of the folder `data`."""
    if train_lists:
        if not val_lists:
            raise UserError("a training list needs a validation list (speaker-disjoint)", parameters=("val",))
        train = [p for lst in train_lists for p in read_list(lst)]
        val = [p for lst in val_lists for p in read_list(lst)]
        shared = len(set(val) & set(train))
        notices = [f"{shared} of the {len(val)} validation files are also training files: the validation loss that "
                   "chooses the best epoch and stops training will flatter the model"] if shared else []
        return TrainingFiles(train, val, notices)
    if data is None:
        raise UserError("give a folder of audio, or training and validation lists", parameters=("data", "train", "val"))
    files = find_audio(data)
    if not files:
        raise UserError(f"{data}: no audio files found")
    if len(files) < 2:
        raise UserError(f"{data}: need at least two audio files (one for validation)")
    notices = []
    if len({speaker_of(p) for p in files}) < 2:
        notices.append(f"{data}: one speaker only (one folder): validation files share the training speaker")
    return TrainingFiles(*split_by_speaker(files), notices)


def frames_stored(paths: list[Path], cfg: StftConfig, cache_dir: Path, precision: str = "float32") -> bool:
    """Whether cache_dir holds the frame store of `paths` already (so that load_frames builds nothing)."""
    return is_built(paths, cfg, cache_dir, TRIM_TOP_DB, precision)


def load_frames(paths: list[Path], cfg: StftConfig, cache_dir: Path | None = None,
                progress: Callable[[int], None] | None = None, workers: int | StartedPool = 0,
                precision: str = "float32") -> FrameSet:
    """Frames of all files (unreadable ones skipped and listed), with the values `precision` keeps. With cache_dir
    they come from the frame store there (built the first time on `workers` processes, or on this one and a started
    pool's): a read-only memory map, so memory stays bounded however large the corpus. Without it they are computed
    here and held in memory, as float32 either way. progress(n): n more files done."""
    check_precision(precision)
    if cache_dir:
        frames, manifest = open_store(paths, cfg, cache_dir, TRIM_TOP_DB, workers, progress, precision)
        return FrameSet(frames, manifest["files"], manifest["skipped"])
    chunks, files, skipped = [], [], []
    for path in paths:
        try:
            chunks.append(file_frames(path, cfg))
            files.append(str(path))
        except UserError as error:
            skipped.append(str(error))
        if progress:
            progress(1)
    frames = np.concatenate(chunks) if chunks else np.zeros((0, cfg.n_bins), dtype=np.float32)
    return FrameSet(rounded(frames, precision), files, skipped)


def load_sets(files: TrainingFiles, stft_config: StftConfig, cache_dir: Path | None, workers: int | StartedPool,
              precision: str, progress: Callable[[str, int, int], None] | None = None) -> dict[str, FrameSet]:
    """The training and validation frames ({"train": ..., "val": ...}), from the frame store in cache_dir (built on
    `workers` processes the first time) or computed in memory. progress(set name, files done, files in the set)."""
    sets = {}
    for name, paths in files.sets().items():
        done = [0]

        def advance(count: int, name: str = name, paths: list[Path] = paths, done: list[int] = done) -> None:
            done[0] += count
            if progress:
                progress(name, done[0], len(paths))

        sets[name] = load_frames(paths, stft_config, cache_dir, advance, workers, precision)
    return sets


def run_record(sets: dict[str, FrameSet], sources: dict[str, list[str]], stft_config: StftConfig) -> dict:
    """What a checkpoint's metadata says of the data it was trained on."""
    return {
        "data_sources": sources,
        "train_files": len(sets["train"].files),
        "val_files": len(sets["val"].files),
        "train_frames": len(sets["train"].frames),
        "val_frames": len(sets["val"].frames),
        "skipped_files": sets["train"].skipped + sets["val"].skipped,
        "stft": {"sample_rate": stft_config.sample_rate, "n_fft": stft_config.n_fft, "hop": stft_config.hop},
    }


@contextmanager
def store_workers(files: TrainingFiles, stft_config: StftConfig, cache_dir: Path | None,
                  workers: int, precision: str) -> Iterator[int | StartedPool]:
    """What load_sets should build on: where a store of the files is still to be built here, `workers` processes
    started now (this one included), so that their start-up overlaps the caller's own (importing torch takes
    longer) and the training and validation builds share them; otherwise `workers`, which starts nothing. Under
    torchrun only the first process of each node starts them (the others find the store built, or wait for it)."""
    building = (cache_dir is not None and worker_count(workers) > 1 and os.environ.get("LOCAL_RANK", "0") == "0"
                and not all(frames_stored(paths, stft_config, cache_dir, precision) for paths in files.sets().values()))
    if not building:
        yield workers
        return
    with started_workers(workers) as pool:
        yield pool
