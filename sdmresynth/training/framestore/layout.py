"""The frame store's layout, shared by the builder (build) and the opener (store): where a file set's store lives
(its key), the manifest that describes it, and its frames as one read-only array.

Under the cache folder: `store-KEY/frames.npy` (float32, or bfloat16 kept as uint16: `precision`) and
`store-KEY/manifest.json` (files, skipped files, the precision, and each file's rows and offset in frames.npy). Each
file gets a reservation of rows from its header (its untrimmed frame count; the headers of a long list are read by
the workers too), so the worker processes that compute the frames write them straight into place, in parallel:
there is no serial join. The silence trimmed from each file leaves a gap of rows that are never written (a hole in a
sparse file: no disk) and never read (`StoredFrames` maps the files' rows, in list order, around the gaps).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ...dsp.stft import StftConfig
from .precision import STORAGE, from_storage

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
        stored = rows + self._shift[np.searchsorted(self._starts, rows, side="right") - 1]  # rows in frames.npy
        return from_storage(np.take(self._mapped, stored, axis=0))

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("StoredFrames takes slices of rows; use np.take for a list of rows")
        return self.take(np.arange(*key.indices(len(self))))

    def __reduce__(self) -> tuple:
        """Pickled (for another process) as the file its mapping reads, which the other process maps again: never as
        its data."""
        mapped, rows = self._mapped, np.diff(self._starts)
        layout = ((self._shift + self._starts[:-1]).tolist(), rows.tolist())  # each file's offset and rows
        if isinstance(mapped, np.memmap) and mapped.filename:
            return _map_again, (mapped.filename, mapped.dtype.str, mapped.shape, mapped.offset, *layout)
        return StoredFrames, (mapped, *layout)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def _map_again(filename: str, dtype: str, shape: tuple[int, int], offset: int, offsets: list[int],
               rows: list[int]) -> StoredFrames:
    return StoredFrames(np.memmap(filename, dtype=dtype, mode="r", offset=offset, shape=shape), offsets, rows)


def row_bytes(cfg: StftConfig, precision: str) -> int:
    """Bytes of one frame in a store of `precision`."""
    return cfg.n_bins * STORAGE[precision].itemsize


def bytes_per_hour(cfg: StftConfig, precision: str) -> float:
    """Store bytes per hour of audio before trimming (about 460 MB at float32)."""
    return 3600 * cfg.sample_rate / cfg.hop * row_bytes(cfg, precision)


def read_store(store: Path, bins: int | None = None, precision: str | None = None) -> tuple[np.ndarray, dict] | None:
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


