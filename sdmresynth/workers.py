"""Worker processes for batch jobs: started from a server that has already imported the heavy modules, one thread
each, so that N workers on N cores run about N times as fast as one."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any, Iterator

PRELOAD = ["numpy", "torch", "sdmresynth.api", "sdmresynth.metrics"]
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
# glibc's malloc in a fresh process gives each freed block over 128 kB back to the kernel and faults it in again for
# the next file: a store worker spent a quarter of its time in page faults (docs/performance.md section 8). Blocks
# up to 16 MB (two minutes of a file's frames) are kept for reuse instead; other platforms ignore the variables.
REUSE_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(16 << 20), "MALLOC_TRIM_THRESHOLD_": str(32 << 20)}


@contextmanager
def child_environment(variables: dict[str, str]) -> Iterator[None]:
    """`variables` set for processes started inside the block (they inherit the environment)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _others_running(samples: int = 5, interval: float = 0.01) -> float | None:
    """How many threads of other processes are running or waiting for a core now: the median of a few readings of
    Linux's /proc/loadavg, less this reading thread (None where there is no such file)."""
    import time

    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as handle:
                counts.append(int(handle.read().split()[3].split("/")[0]) - 1)
        except (OSError, IndexError, ValueError):
            return None
        time.sleep(interval)
    return sorted(counts)[len(counts) // 2]


def free_cores() -> int:
    """The CPU cores that other work is not using now (at least 1): as many threads as this is fast on an idle
    machine and does not fight other processes for cores on a busy one. From the threads running now where the
    system says (Linux), else from the 1-minute load average."""
    cores = os.cpu_count() or 1
    busy = _others_running()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # not on every platform
            return cores
    return max(1, min(cores, round(cores - busy)))


def worker_count(requested: int, jobs: int | None = None) -> int:
    """The processes to use: `requested`, or one per CPU for 0; never more than there are jobs."""
    count = requested or os.cpu_count() or 1
    return count if jobs is None else min(count, jobs)


def start_server(workers: int) -> None:
    """Start the preloaded fork server now, if `workers` > 1, so that its imports (about a second) overlap the
    caller's own start-up instead of delaying the first worker. Safe to call more than once."""
    if workers > 1 and "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        _context()
        with child_environment(ONE_THREAD):
            forkserver.ensure_running()


def _one_thread(initializer: Callable | None, initargs: tuple) -> None:
    import torch

    torch.set_num_threads(1)
    if initializer:
        initializer(*initargs)


@contextmanager
def worker_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of single-threaded workers: forked from a preloaded server where the platform has one
    (no second import of torch per worker), spawned elsewhere."""
    context = _context()
    with child_environment(ONE_THREAD), ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread,
                                                            initargs=(initializer, initargs)) as pool:
        yield pool


@contextmanager
def light_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Single-threaded workers for jobs that need numpy but not torch (building the frame store): spawned fresh,
    they start in a fraction of a second, where a pool preloaded with torch takes about three; their malloc keeps
    freed memory for reuse."""
    spawn = multiprocessing.get_context("spawn")
    with child_environment(ONE_THREAD | REUSE_FREED_MEMORY), ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        yield pool


@dataclass(frozen=True)
class StartedPool:
    """`size` worker processes started ahead of their jobs (started_light_pool), for several calls to share."""
    executor: ProcessPoolExecutor
    size: int


@contextmanager
def started_light_pool(workers: int, warm_up: Callable[[], Any]) -> Iterator[StartedPool]:
    """light_pool's `workers` processes, each started at once by a `warm_up` job (a function whose module imports what
    the real jobs need), so that their start-up overlaps what the caller does before it gives them work."""
    with light_pool(workers) as pool:
        for _ in range(workers):
            pool.submit(warm_up)  # no worker is idle yet, so each job starts one more
        yield StartedPool(pool, workers)
