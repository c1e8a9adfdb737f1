"""The frame store: the training frames of a file set on disk, one memory-mapped .npy that training streams from.

Layout under the cache folder: `store-KEY/frames.npy` (float32, or bfloat16 kept as uint16: `precision`) and
`store-KEY/manifest.json` (files, skipped files, the precision, and each file's rows and offset in frames.npy). Each
file gets a reservation of rows from its header (its untrimmed frame count; the headers of a long list are read by
the workers too), so the worker processes that compute the frames write them straight into place, in parallel:
there is no serial join. The silence trimmed from each file leaves a gap of rows that are never written (a hole in a
sparse file: no disk) and never read (`StoredFrames` maps the files' rows, in list order, around the gaps).

Building one (in parallel, resumable) is store_build's job.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import re
import shutil
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .errors import UserError
from .precision import STORAGE, decode
from .stft import StftConfig
from .workers import StartedPool

STORE_VERSION = 2
# What a cache folder holds that is ours (stores, builds, locks, the old single-file caches), named by a store key:
# `cache --clear` deletes these and nothing else, even in a folder shared with other files.
OURS = re.compile(r"(store|building)-[0-9a-f]{32}|\.lock-[0-9a-f]{32}|frames-[0-9a-f]{32}\.(npy|json)")


def store_key(paths: list[Path], cfg: StftConfig, top_db: float, precision: str = "float32") -> str:
    """Changes whenever a file, its size or mtime, the STFT settings, the trimming or the precision change."""
    settings = {"v": STORE_VERSION, "stft": asdict(cfg), "top_db": top_db}
    if precision != "float32":  # float32 stores keep the keys they had before there was a choice
        settings["precision"] = precision
    digest = hashlib.sha256(json.dumps(settings).encode())
    for path in paths:
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}|{stat and stat.st_size}|{stat and stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


class StoredFrames:
    """The frames of a store as one read-only (N, F) array: the files' rows in list order, the gaps between them
    left out, as float32 whatever the store's precision. Supports what training, validation and the baselines use:
    len, shape, dtype, np.take(frames, rows, axis=0) (one gather from the mapping) and slices of consecutive rows."""

    def __init__(self, mapped: np.ndarray, offsets: list[int], rows: list[int]):
        self._mapped = mapped
        self._starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])  # each file's first row, without gaps
        self._shift = np.asarray(offsets, dtype=np.int64) - self._starts[:-1]  # its row in frames.npy minus that
        self.shape = (int(self._starts[-1]), mapped.shape[1])
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, rows: Any, axis: int = 0, out: None = None, mode: str = "raise") -> np.ndarray:
        if axis != 0 or out is not None or mode != "raise":
            raise NotImplementedError("StoredFrames.take gathers rows (axis 0) only")
        rows = np.asarray(rows, dtype=np.int64)  # in [0, N): the gather is the training loop's hot path
        return decode(np.take(self._mapped, rows + self._shift[np.searchsorted(self._starts, rows, side="right") - 1],
                              axis=0))

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("StoredFrames takes slices of rows; use np.take for a list of rows")
        return self.take(np.arange(*key.indices(len(self))))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def row_bytes(cfg: StftConfig, precision: str) -> int:
    """Bytes of one frame in a store of `precision`."""
    return cfg.n_bins * STORAGE[precision].itemsize


def bytes_per_hour(cfg: StftConfig, precision: str) -> float:
    """Store bytes per hour of audio before trimming (about 460 MB at float32)."""
    return 3600 * cfg.sample_rate / cfg.hop * row_bytes(cfg, precision)


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
        raise UserError(f"{cache_dir}: is a file, not a folder for frame stores: give a folder as --cache-dir")


def is_built(paths: list[Path], cfg: StftConfig, cache_dir: Path, top_db: float, precision: str = "float32") -> bool:
    """Whether cache_dir holds a store of `paths` already (opening it would build nothing, unless it is damaged)."""
    return (cache_dir / f"store-{store_key(paths, cfg, top_db, precision)}").is_dir()


def open_store(paths: list[Path], cfg: StftConfig, cache_dir: Path, top_db: float, workers: int | StartedPool = 0,
               progress: Callable[[int], None] | None = None,
               precision: str = "float32") -> tuple[StoredFrames, dict]:
    """The frames of paths, read-only and memory-mapped, and the manifest; the store (its frames kept at `precision`)
    is built first if needed.

    progress(n) is called as n more files are done."""
    from .store_build import build  # here: store_build imports this module

    check_cache_dir(cache_dir)
    key = store_key(paths, cfg, top_db, precision)
    store = cache_dir / f"store-{key}"
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # a worker re-running its parent's script
        raise UserError("the frame store's worker re-ran the calling script: put the code that loads frames under "
                        "`if __name__ == \"__main__\":` (Python's multiprocessing rule)")
    try:
        with _locked(cache_dir / f".lock-{key}"):
            opened = _opened(store, cfg.n_bins, precision)
            if opened is None:  # not built, or damaged (a cache is rebuilt, never trusted)
                build(paths, cfg, precision, store, cache_dir / f"building-{key}", workers, progress)
                opened = _opened(store, cfg.n_bins, precision)
            elif progress:
                progress(len(paths))
    except OSError as error:  # a full disk, a cache folder that cannot be made or written
        raise UserError(f"frame store in {cache_dir}: {error.strerror or error}; run again once that is fixed (a build "
                        "resumes from the chunks it finished), or give another --cache-dir") from None
    if opened is None:
        raise UserError(f"{store}: the frame store just built cannot be read back (is the disk failing?)")
    mapped, manifest = opened
    return StoredFrames(mapped, manifest["offsets"], manifest["rows"]), manifest


def _opened(store: Path, bins: int | None = None, precision: str | None = None) -> tuple[np.ndarray, dict] | None:
    """A complete store's frames (memory-mapped) and manifest; None if it is not there or is damaged: a manifest
    that does not parse, a frames file missing, cut short or of another shape (`bins` per frame, if given) or
    precision (`precision`, if given), rows outside it."""
    try:
        manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
        mapped = np.load(store / "frames.npy", mmap_mode="r", allow_pickle=False)
        offsets, rows = manifest["offsets"], manifest["rows"]
        ends = np.add(offsets, rows)
        kept = manifest.setdefault("precision", "float32")  # stores made before there was a choice
        whole = (mapped.ndim == 2 and bins in (None, mapped.shape[1]) and precision in (None, kept)
                 and mapped.dtype == STORAGE[kept] and len(offsets) == len(rows)
                 and len(manifest["files"]) == len(rows) and (len(ends) == 0 or ends.max() <= len(mapped))
                 and min(rows, default=0) >= 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (mapped, manifest) if whole else None


def disk_bytes(path: Path) -> int:
    """Bytes a file takes on disk (a sparse file's holes take none)."""
    stat = path.stat()
    blocks = getattr(stat, "st_blocks", None)  # not on every platform
    return stat.st_size if blocks is None else blocks * 512


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
            opened = _opened(folder)
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
