"""The frame store: the training frames of a file set on disk, one memory-mapped .npy that training streams from.

Layout under the cache folder: `store-KEY/frames.npy` (N x F float32, the files' trimmed frames in list order) and
`store-KEY/manifest.json` (files, skipped files, rows per file), written last: a store without its manifest is never
trusted. Building runs on worker processes, each turning a chunk of files (about CHUNK_SECONDS of audio) into a
shard in `building-KEY/`; shards are written atomically, so an interrupted build resumes from the shards it has.
The shards are then copied into one file, so that a mini-batch of random rows is one gather from one mapping.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .audio import write_atomically
from .errors import UserError
from .stft import StftConfig

STORE_VERSION = 1
CHUNK_SECONDS = 300.0  # audio per shard: small enough to balance the workers, large enough to keep files few


def store_key(paths: list[Path], cfg: StftConfig, top_db: float) -> str:
    """Changes whenever a file, its size or mtime, the STFT settings or the trimming change."""
    digest = hashlib.sha256(json.dumps({"v": STORE_VERSION, "stft": asdict(cfg), "top_db": top_db}).encode())
    for path in paths:
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}|{stat and stat.st_size}|{stat and stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _chunks(paths: list[Path]) -> list[list[Path]]:
    """Consecutive files grouped into about CHUNK_SECONDS of audio each (durations from the headers)."""
    import soundfile as sf

    chunks: list[list[Path]] = [[]]
    seconds = 0.0
    for path in paths:
        try:
            duration = sf.info(path).duration
        except (RuntimeError, TypeError, ValueError, OSError):
            duration = 0.0  # unreadable: the worker reports why
        if chunks[-1] and seconds + duration > CHUNK_SECONDS:
            chunks.append([])
            seconds = 0.0
        chunks[-1].append(path)
        seconds += duration
    return [c for c in chunks if c]


def _build_shard(paths: list[str], cfg: StftConfig, target: str) -> dict:
    """Frames of a chunk of files into the shard `target` (atomically); returns its rows per file and skips."""
    from .data import file_frames

    frames, rows, files, skipped = [], [], [], []
    for path in paths:
        try:
            frames.append(file_frames(Path(path), cfg))
            rows.append(len(frames[-1]))
            files.append(path)
        except UserError as error:
            skipped.append(str(error))
    stacked = np.concatenate(frames) if frames else np.zeros((0, cfg.n_bins), np.float32)
    info = {"files": files, "rows": rows, "skipped": skipped}

    def write(temp: str) -> None:
        with open(temp, "wb") as handle:
            np.save(handle, stacked, allow_pickle=False)

    write_atomically(Path(target), write)
    text = json.dumps(info)  # written after the shard, atomically too: no json, no trust
    write_atomically(Path(target + ".json"), lambda temp: Path(temp).write_text(text, encoding="utf-8"))
    return info


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


def open_store(paths: list[Path], cfg: StftConfig, cache_dir: Path, top_db: float, workers: int = 0,
               progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict]:
    """The frames (N, F) of paths as a read-only memory map, and the manifest; built first if needed.

    progress(n) is called as n more files are done."""
    key = store_key(paths, cfg, top_db)
    store = cache_dir / f"store-{key}"
    with _locked(cache_dir / f".lock-{key}"):
        if not (store / "manifest.json").is_file():
            _build(paths, cfg, store, cache_dir / f"building-{key}", workers, progress)
        elif progress:
            progress(len(paths))
    manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
    frames = np.load(store / "frames.npy", mmap_mode="r", allow_pickle=False)
    return frames, manifest


def _build(paths: list[Path], cfg: StftConfig, store: Path, building: Path, workers: int,
           progress: Callable[[int], None] | None) -> None:
    from .workers import worker_count, worker_pool

    started = time.perf_counter()
    building.mkdir(parents=True, exist_ok=True)
    chunks = _chunks(paths)
    shards = [building / f"shard-{i:06d}.npy" for i in range(len(chunks))]
    infos: dict[int, dict] = {}
    todo = []
    for i, (chunk, shard) in enumerate(zip(chunks, shards)):
        done = Path(f"{shard}.json")
        if shard.is_file() and done.is_file():  # left by an interrupted build
            infos[i] = json.loads(done.read_text(encoding="utf-8"))
            if progress:
                progress(len(chunk))
        else:
            todo.append(i)
    count = worker_count(workers, len(todo))
    if count <= 1:
        for i in todo:
            infos[i] = _build_shard([str(p) for p in chunks[i]], cfg, str(shards[i]))
            if progress:
                progress(len(chunks[i]))
    elif todo:
        with worker_pool(count) as pool:
            futures = {i: pool.submit(_build_shard, [str(p) for p in chunks[i]], cfg, str(shards[i])) for i in todo}
            for i in sorted(futures, key=lambda j: -len(chunks[j])):
                infos[i] = futures[i].result()
                if progress:
                    progress(len(chunks[i]))
    _join(shards, [infos[i] for i in range(len(chunks))], cfg, store, building, time.perf_counter() - started)


def _join(shards: list[Path], infos: list[dict], cfg: StftConfig, store: Path, building: Path, seconds: float) -> None:
    """Copy the shards into store/frames.npy, write the manifest last, and remove the shards."""
    total = sum(sum(info["rows"]) for info in infos)
    store.mkdir(parents=True, exist_ok=True)
    partial = store / "frames.npy.partial"
    frames = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(total, cfg.n_bins))
    row = 0
    for shard in shards:
        part = np.load(shard, mmap_mode="r", allow_pickle=False)
        frames[row : row + len(part)] = part
        row += len(part)
    frames.flush()
    del frames
    partial.replace(store / "frames.npy")
    manifest = {
        "version": STORE_VERSION,
        "files": [f for info in infos for f in info["files"]],
        "rows": [r for info in infos for r in info["rows"]],
        "skipped": [s for info in infos for s in info["skipped"]],
        "frames": total,
        "bytes": (store / "frames.npy").stat().st_size,
        "build_seconds": round(seconds, 2),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    text = json.dumps(manifest)
    write_atomically(store / "manifest.json", lambda temp: Path(temp).write_text(text, encoding="utf-8"))
    shutil.rmtree(building, ignore_errors=True)


def list_stores(cache_dir: Path) -> list[dict]:
    """Every store and unfinished build under cache_dir: name, state, files, frames, bytes on disk."""
    entries = []
    if not cache_dir.is_dir():
        return entries
    for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir() and p.name.startswith(("store-", "building-"))):
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        entry = {"name": folder.name, "path": str(folder), "bytes": size, "state": "unfinished", "files": None,
                 "frames": None, "created": None}
        manifest = folder / "manifest.json"
        if manifest.is_file():
            data = json.loads(manifest.read_text(encoding="utf-8"))
            entry.update(state="complete", files=len(data["files"]), frames=data["frames"], created=data["created"])
        entries.append(entry)
    return entries


def clear_stores(cache_dir: Path) -> int:
    """Delete every store, unfinished build, lock and old-style cache file under cache_dir; returns bytes freed."""
    freed = 0
    for entry in list_stores(cache_dir):
        freed += entry["bytes"]
        shutil.rmtree(entry["path"], ignore_errors=True)
    if cache_dir.is_dir():
        for old in [*cache_dir.glob(".lock-*"), *cache_dir.glob("frames-*.npy"), *cache_dir.glob("frames-*.json")]:
            freed += old.stat().st_size
            old.unlink()
    return freed
