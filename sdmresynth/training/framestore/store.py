"""The frame store: the training frames of a file set on disk, one memory-mapped .npy that training streams from
(the layout is `layout`'s; building one, in parallel and resumably, is `build`'s). Opening, listing and clearing the
stores of a cache folder."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ...dsp.stft import StftConfig
from ...errors import UserError
from ...io.atomic import disk_bytes
from ...workers import StartedPool
from .build import build
from .layout import OURS, StoredFrames, read_store, store_key


def default_cache_dir() -> Path:
    """Where stores live unless told: $SDMRESYNTH_CACHE, or ~/.cache/sdmresynth."""
    return Path(os.environ.get("SDMRESYNTH_CACHE", Path.home() / ".cache" / "sdmresynth"))


def cache_size(cache_dir: Path) -> int:
    """Bytes held under the cache folder (0 when it does not exist)."""
    if not cache_dir.is_dir():
        return 0
    return sum(disk_bytes(p) for p in cache_dir.rglob("*") if p.is_file())


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """One builder per store: other processes (torchrun ranks) wait here, then find the store built."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_cache_dir(cache_dir: Path) -> None:
    """Refuse a cache folder that is a file (a missing one is made when a store is built)."""
    if cache_dir.exists() and not cache_dir.is_dir():
        raise UserError(f"{cache_dir}: is a file, not a folder for frame stores: give a folder",
                        parameters=("cache_dir",))


def is_built(paths: list[Path], cfg: StftConfig, cache_dir: Path, top_db: float, precision: str = "float32") -> bool:
    """Whether cache_dir holds a store of `paths` already (opening it would build nothing, unless it is damaged)."""
    return (cache_dir / f"store-{store_key(paths, cfg, top_db, precision)}").is_dir()


def open_store(paths: list[Path], cfg: StftConfig, cache_dir: Path, top_db: float, workers: int | StartedPool = 0,
               progress: Callable[[int], None] | None = None,
               precision: str = "float32") -> tuple[StoredFrames, dict]:
    """The frames of paths, read-only and memory-mapped, and the manifest; the store (its frames kept at `precision`)
    is built first if needed.

    progress(n) is called as n more files are done."""
    check_cache_dir(cache_dir)
    key = store_key(paths, cfg, top_db, precision)
    store = cache_dir / f"store-{key}"
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # a worker re-running its parent's script
        raise UserError("the frame store's worker re-ran the calling script: put the code that loads frames under "
                        "`if __name__ == \"__main__\":` (Python's multiprocessing rule)")
    try:
        with _locked(cache_dir / f".lock-{key}"):
            opened = read_store(store, cfg.n_bins, precision)
            if opened is None:  # not built, or damaged (a cache is rebuilt, never trusted)
                build(paths, cfg, precision, store, cache_dir / f"building-{key}", workers, progress)
                opened = read_store(store, cfg.n_bins, precision)
            elif progress:
                progress(len(paths))
    except OSError as error:  # a full disk, a cache folder that cannot be made or written
        raise UserError(f"frame store in {cache_dir}: {error.strerror or error}; run again once that is fixed (a build "
                        "resumes from the chunks it finished), or give another cache folder",
                        parameters=("cache_dir",)) from None
    if opened is None:
        raise UserError(f"{store}: the frame store just built cannot be read back (is the disk failing?)")
    mapped, manifest = opened
    return StoredFrames(mapped, manifest["offsets"], manifest["rows"]), manifest


def list_stores(cache_dir: Path) -> list[dict]:
    """Every store and unfinished build under cache_dir: name, state (complete, unfinished or damaged: rebuilt by the
    next train on the same files), files, frames, bytes on disk."""
    entries = []
    if not cache_dir.is_dir():
        return entries
    for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir() and OURS.fullmatch(p.name)):
        size = sum(disk_bytes(f) for f in folder.iterdir() if f.is_file())
        entry = {"name": folder.name, "path": str(folder), "bytes": size, "state": "unfinished", "files": None,
                 "frames": None, "precision": None, "created": None}
        if (folder / "manifest.json").is_file():
            opened = read_store(folder)
            if opened is None:
                entry["state"] = "damaged"
            else:
                manifest = opened[1]
                entry.update(state="complete", files=len(manifest["files"]), frames=sum(manifest["rows"]),
                             precision=manifest["precision"], created=manifest.get("created"))
        entries.append(entry)
    return entries


def clear_stores(cache_dir: Path) -> int:
    """Delete every store, unfinished build, lock and old-style cache file under cache_dir; returns bytes freed."""
    freed = 0
    for entry in list_stores(cache_dir):
        freed += entry["bytes"]
        shutil.rmtree(entry["path"], ignore_errors=True)
    if cache_dir.is_dir():
        for old in [p for p in cache_dir.iterdir() if p.is_file() and OURS.fullmatch(p.name)]:
            freed += old.stat().st_size
            old.unlink()
    return freed
