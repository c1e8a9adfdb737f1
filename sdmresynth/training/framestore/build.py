"""Building a frame store (the layout is `layout`'s): the files' frames computed on this process and worker
processes, written straight into their reserved rows.

A build happens in `building-KEY/`: each chunk of files (about CHUNK_SECONDS of audio) is recorded as done in a small
json once its frames are synced to disk, so an interrupted build resumes with the chunks it has; the finished folder is
renamed to `store-KEY` in one step, so a half-written store is never found.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

import numpy as np

from ...dsp.stft import StftConfig, frame_count
from ...errors import UserError
from ...io.atomic import disk_bytes, format_size, write_atomically
from ...workers import StartedPool, light_pool, started_light_pool, worker_count
from ..features import file_frames
from .layout import STORE_VERSION, row_bytes
from .precision import STORAGE, to_storage

CHUNK_SECONDS = 300.0  # audio per chunk of work: small enough to balance the workers and resume, large enough to
                       # keep the records few
HEADERS_PER_JOB = 2000  # files whose headers one job reads (about 0.2-0.4 s)


def started_workers(workers: int) -> AbstractContextManager[StartedPool]:
    """Store workers started now, for the builds inside the block to share: `workers` processes with the caller (0:
    one per CPU; at least 2), so `workers` - 1 spawned. Their start-up (importing numpy and soundfile, 0.2-0.4 s)
    then overlaps what the caller does before its first build instead of delaying it."""
    return started_light_pool(worker_count(workers) - 1, _ready)


def _ready() -> None:
    """A worker's first job: unpickling it imports this module, which imports what every build job needs."""


def build(paths: list[Path], cfg: StftConfig, precision: str, store: Path, building: Path,
          workers: int | StartedPool, progress: Callable[[int], None] | None) -> None:
    """Build the store of `paths` in the folder `building` on `workers` processes (this one included; 0: one per
    CPU; or this one and a started pool's), keeping the chunks an interrupted build finished, then rename it to
    `store`."""
    started = time.perf_counter()
    building.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(workers, StartedPool):
            _build_on(paths, cfg, precision, store, building, workers.executor, workers.size, progress, started)
        else:
            spawned = worker_count(workers, len(paths)) - 1
            with light_pool(spawned) if spawned > 0 else nullcontext() as pool:  # workers start as jobs are given
                _build_on(paths, cfg, precision, store, building, pool, spawned, progress, started)
    except BrokenProcessPool:
        raise UserError("a worker building the frame store stopped abruptly (killed, out of memory, or it re-ran a "
                        "calling script that lacks `if __name__ == \"__main__\":`); run again to resume the "
                        "build") from None


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
    _check_space(building, sum(reserved[j] for i in todo for j in chunks[i]) * row_bytes(cfg, precision))

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


def _create(target: Path, rows: int, cfg: StftConfig, precision: str) -> None:
    """An empty (sparse) .npy of rows x bins at `precision`, made whole before it gets its name."""
    partial = target.with_suffix(".npy.partial")
    np.lib.format.open_memmap(partial, mode="w+", dtype=STORAGE[precision], shape=(rows, cfg.n_bins)).flush()
    partial.replace(target)


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
        raise UserError(f"frame store in {building.parent}: it needs up to {format_size(needed)} and "
                        f"{format_size(free)} is free there: free some space (clearing the cache deletes old stores) "
                        "or give another cache folder", parameters=("cache_dir",))


def _fill_chunk(chunk: list[int], paths: list[str], offsets: list[int], reserved: list[int], cfg: StftConfig,
                precision: str, target: str) -> dict:
    """Write the frames of a chunk of files (list indices [start, stop)) into their reserved rows of `target` (plain
    writes: no page faults). Returns what the chunk's record will say: the chunk, the files kept, their rows and
    offsets, the skips."""
    start = np.load(target, mmap_mode="r", allow_pickle=False).offset  # the .npy header's length
    width = row_bytes(cfg, precision)
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
            os.pwrite(handle.fileno(), to_storage(frames, precision).data, start + offset * width)
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
