"""The frame store: the training frames of a file set on disk, one memory-mapped .npy that training streams from.

Layout under the cache folder: `store-KEY/frames.npy` (float32, or bfloat16 kept as uint16: `precision`) and
`store-KEY/manifest.json` (files, skipped files, the precision, and each file's rows and offset in frames.npy). Each
file gets a reservation of rows from its header (its untrimmed frame count; the headers of a long list are read by
the workers too), so the worker processes that compute the frames write them straight into place, in parallel:
there is no serial join. The silence trimmed from each file leaves a gap of rows that are never written (a hole in a
sparse file: no disk) and never read (`StoredFrames` maps the files' rows, in list order, around the gaps).

A build happens in `building-KEY/`: each chunk of files (about CHUNK_SECONDS of audio) is recorded as done in a small
json once its frames are synced to disk, so an interrupted build resumes with the chunks it has; the finished folder is
renamed to `store-KEY` in one step, so a half-written store is never found.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from .audio import write_atomically
from .errors import UserError
from .precision import STORAGE, decode, encode
from .stft import StftConfig, frame_count

STORE_VERSION = 2
# What a cache folder holds that is ours (stores, builds, locks, the old single-file caches), named by a store key:
# `cache --clear` deletes these and nothing else, even in a folder shared with other files.
OURS = re.compile(r"(store|building)-[0-9a-f]{32}|\.lock-[0-9a-f]{32}|frames-[0-9a-f]{32}\.(npy|json)")
CHUNK_SECONDS = 300.0  # audio per chunk of work: small enough to balance the workers and resume, large enough to
                       # keep the records few
HEADERS_PER_JOB = 2000  # files whose headers one job reads (about 0.2-0.4 s)


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


def _row_bytes(cfg: StftConfig, precision: str) -> int:
    """Bytes of one frame in a store of `precision`."""
    return cfg.n_bins * STORAGE[precision].itemsize


def bytes_per_hour(cfg: StftConfig, precision: str) -> float:
    """Store bytes per hour of audio before trimming (about 460 MB at float32)."""
    return 3600 * cfg.sample_rate / cfg.hop * _row_bytes(cfg, precision)


def _reservations(paths: list[Path], cfg: StftConfig) -> list[int]:
    """Rows each file may need: its untrimmed frame count at the model rate, from the header (0 if unreadable:
    the worker reports why)."""
    import soundfile as sf

    rows = []
    for path in paths:
        try:
            info = sf.info(path)
            samples = -(-info.frames * cfg.sample_rate // info.samplerate)  # after resampling (resample_poly: ceil)
            rows.append(frame_count(samples, cfg) + 1 if info.frames > 0 else 0)
        except (RuntimeError, TypeError, ValueError, OSError):
            rows.append(0)
    return rows


def _reservations_on(paths: list[Path], cfg: StftConfig, pool: Executor | None, workers: int) -> list[int]:
    """_reservations of a long list, read by this process and `workers` workers of `pool` in slices of
    HEADERS_PER_JOB files: a million-file corpus has minutes of headers to read before any frame can be placed."""
    slices = [paths[i:i + HEADERS_PER_JOB] for i in range(0, len(paths), HEADERS_PER_JOB)]
    rows: dict[int, list[int]] = {}
    _share(range(len(slices)), lambda i: (_reservations, slices[i], cfg), rows.__setitem__, pool, workers)
    return [count for i in range(len(slices)) for count in rows[i]]


def _chunks(reserved: list[int], cfg: StftConfig) -> list[range]:
    """Consecutive files grouped into about CHUNK_SECONDS of audio each."""
    limit = CHUNK_SECONDS * cfg.sample_rate / cfg.hop
    chunks, first, rows = [], 0, 0
    for i, count in enumerate(reserved):
        if i > first and rows + count > limit:
            chunks.append(range(first, i))
            first, rows = i, 0
        rows += count
    if first < len(reserved):
        chunks.append(range(first, len(reserved)))
    return chunks


def _fill_chunk(chunk: list[int], paths: list[str], offsets: list[int], reserved: list[int], cfg: StftConfig,
                precision: str, target: str) -> dict:
    """Write the frames of a chunk of files (list indices [start, stop)) into their reserved rows of `target` (plain
    writes: no page faults). Returns what the chunk's record will say: the chunk, the files kept, their rows and
    offsets, the skips."""
    from .data import file_frames

    start = np.load(target, mmap_mode="r", allow_pickle=False).offset  # the .npy header's length
    row_bytes = _row_bytes(cfg, precision)
    info: dict[str, list] = {"chunk": chunk, "files": [], "rows": [], "offsets": [], "skipped": []}
    with open(target, "r+b") as handle:
        for path, offset, room in zip(paths, offsets, reserved):
            try:
                frames = file_frames(Path(path), cfg)
            except UserError as error:
                info["skipped"].append(str(error))
                continue
            if len(frames) > room:
                info["skipped"].append(f"{path}: decodes to more audio than its header declares (re-encode it)")
                continue
            os.pwrite(handle.fileno(), encode(frames, precision).data, start + offset * row_bytes)
            info["files"].append(path)
            info["rows"].append(len(frames))
            info["offsets"].append(offset)
    return info


def _record_when_synced(handle: BinaryIO, record: Path, info: dict) -> None:
    """Sync the frames file (every process's writes so far: the page cache is the file's), then record the chunk as
    done, atomically: no record, no trust."""
    getattr(os, "fdatasync", os.fsync)(handle.fileno())
    text = json.dumps(info)
    write_atomically(record, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


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


def open_store(paths: list[Path], cfg: StftConfig, cache_dir: Path, top_db: float, workers: int = 0,
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
            opened = _opened(store, cfg.n_bins, precision)
            if opened is None:  # not built, or damaged (a cache is rebuilt, never trusted)
                _build(paths, cfg, precision, store, cache_dir / f"building-{key}", workers, progress)
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


def _create(target: Path, rows: int, cfg: StftConfig, precision: str) -> None:
    """An empty (sparse) .npy of rows x bins at `precision`, made whole before it gets its name."""
    partial = target.with_suffix(".npy.partial")
    np.lib.format.open_memmap(partial, mode="w+", dtype=STORAGE[precision], shape=(rows, cfg.n_bins)).flush()
    partial.replace(target)


def _build(paths: list[Path], cfg: StftConfig, precision: str, store: Path, building: Path, workers: int,
           progress: Callable[[int], None] | None) -> None:
    from .workers import light_pool, worker_count

    started = time.perf_counter()
    building.mkdir(parents=True, exist_ok=True)
    spawned = worker_count(workers, len(paths)) - 1
    try:
        with light_pool(spawned) if spawned > 0 else nullcontext() as pool:  # workers start as jobs are given
            _build_on(paths, cfg, precision, store, building, pool, spawned, progress, started)
    except BrokenProcessPool:
        raise UserError("a worker building the frame store stopped abruptly (killed, out of memory, or it re-ran a "
                        "calling script that lacks `if __name__ == \"__main__\":`); run again to resume the build") from None


def _build_on(paths: list[Path], cfg: StftConfig, precision: str, store: Path, building: Path,
              pool: Executor | None, spawned: int, progress: Callable[[int], None] | None, started: float) -> None:
    """The build, on this process and up to `spawned` workers of `pool`."""
    reserved = _reservations_on(paths, cfg, pool, spawned)
    offsets = np.concatenate([[0], np.cumsum(reserved, dtype=np.int64)]).tolist()
    target = building / "frames.npy"
    if not _holds(target, offsets[-1], cfg, precision):  # not made yet, or damaged: start again
        for record in building.glob("chunk-*.json"):
            record.unlink()
        _create(target, offsets[-1], cfg, precision)
    chunks = _chunks(reserved, cfg)
    records = [building / f"chunk-{i:06d}.json" for i in range(len(chunks))]
    infos: dict[int, dict] = {}
    for i, record in enumerate(records):
        done = _finished(record, chunks[i])  # by an interrupted build
        if done:
            infos[i] = done
            if progress:
                progress(len(chunks[i]))
    todo = [i for i in range(len(chunks)) if i not in infos]
    _check_space(building, sum(reserved[j] for i in todo for j in chunks[i]) * _row_bytes(cfg, precision))

    def job(i: int) -> tuple:
        files = chunks[i]
        return (_fill_chunk, [files.start, files.stop], [str(paths[j]) for j in files], [offsets[j] for j in files],
                [reserved[j] for j in files], cfg, precision, str(target))

    # Chunks are synced and recorded in a thread of their own, so that the sync's wait overlaps the next chunks' work
    # (each worker syncing its own chunks made them wait on each other's writes). On an error or interrupt, the
    # chunks already filled are still recorded as the syncer closes.
    synced: list[Future] = []
    with open(target, "r+b") as handle, ThreadPoolExecutor(1) as syncer:

        def record(i: int, info: dict) -> None:
            infos[i] = info
            synced.append(syncer.submit(_record_when_synced, handle, records[i], info))
            if progress:
                progress(len(chunks[i]))

        _share(todo, job, record, pool, spawned)
    for future in synced:
        future.result()  # a failed sync or record stops the build here, before the manifest
    _finish([infos[i] for i in range(len(chunks))], precision, store, building, time.perf_counter() - started)


def _holds(target: Path, rows: int, cfg: StftConfig, precision: str) -> bool:
    """Whether target is a whole frames file of `rows` frames at `precision`."""
    try:
        frames = np.load(target, mmap_mode="r", allow_pickle=False)
        return frames.shape == (rows, cfg.n_bins) and frames.dtype == STORAGE[precision]
    except (OSError, ValueError):
        return False


def _finished(record: Path, chunk: range) -> dict | None:
    """The record of `chunk` an interrupted build left, if it is there, whole and about that chunk."""
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
        whole = (info["chunk"] == [chunk.start, chunk.stop] and isinstance(info["skipped"], list)
                 and len(info["files"]) == len(info["rows"]) == len(info["offsets"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if whole else None


def _check_space(building: Path, needed: int) -> None:
    """Refuse, before any work, a build that cannot fit: `needed` bytes is what its rows reserve (an upper bound, as
    trimmed silence takes no disk)."""
    free = shutil.disk_usage(building).free
    if needed > free:
        from .data import format_size

        raise UserError(f"frame store in {building.parent}: it needs up to {format_size(needed)} and "
                        f"{format_size(free)} is free there: free some space (`sdmresynth cache --clear` deletes old "
                        "stores) or give another --cache-dir")


def _share(todo: Iterable[int], job: Callable[[int], tuple], record: Callable[[int, Any], None],
           pool: Executor | None = None, workers: int = 0) -> None:
    """Run the jobs `todo` on this process (a thread, as the caller only waits) and `workers` workers of `pool`, one
    at a time each, each given the next job as soon as it is free, so the workers' start-up overlaps this process's
    first job (a worker beyond the jobs gets none, so it is never spawned). job(i) is the function and its arguments;
    record(i, result) is called here, in the caller's thread, as each job finishes."""
    waiting = deque(todo)
    running: dict[Future, tuple[int, Executor]] = {}

    def give(executor: Executor) -> None:
        if waiting:
            i = waiting.popleft()
            running[executor.submit(*job(i))] = i, executor

    with ThreadPoolExecutor(1) as caller:
        slots: list[Executor] = [caller] + [pool] * workers if pool else [caller]
        for executor in slots:
            give(executor)
        try:
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    i, executor = running.pop(future)
                    record(i, future.result())
                    give(executor)
        finally:  # on an error or interrupt no job starts; those in progress finish and are recorded
            waiting.clear()
            for future, (i, _) in running.items():
                if future.exception() is None:
                    record(i, future.result())


def disk_bytes(path: Path) -> int:
    """Bytes a file takes on disk (a sparse file's holes take none)."""
    stat = path.stat()
    blocks = getattr(stat, "st_blocks", None)  # not on every platform
    return stat.st_size if blocks is None else blocks * 512


def _finish(infos: list[dict], precision: str, store: Path, building: Path, seconds: float) -> None:
    """Write the manifest, drop the chunk records and rename the build into the store in one step."""
    frames = building / "frames.npy"
    rows = [r for info in infos for r in info["rows"]]
    manifest = {
        "version": STORE_VERSION,
        "precision": precision,
        "files": [f for info in infos for f in info["files"]],
        "rows": rows,
        "offsets": [o for info in infos for o in info["offsets"]],
        "skipped": [s for info in infos for s in info["skipped"]],
        "frames": sum(rows),
        "bytes": disk_bytes(frames),
        "build_seconds": round(seconds, 2),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    text = json.dumps(manifest)
    write_atomically(building / "manifest.json", lambda temp: Path(temp).write_text(text, encoding="utf-8"))
    for record in building.glob("chunk-*.json"):
        record.unlink()
    shutil.rmtree(store, ignore_errors=True)  # an old folder without a manifest is never trusted: replace it
    building.rename(store)


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
