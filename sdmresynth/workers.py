"""Worker processes for batch jobs: started from a server that has already imported the heavy modules, one thread
each, so that N workers on N cores run about N times as fast as one."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator

PRELOAD = ["numpy", "torch", "sdmresynth.api", "sdmresynth.metrics"]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_thread(initializer: Callable | None, initargs: tuple) -> None:
    import torch

    torch.set_num_threads(1)
    if initializer:
        initializer(*initargs)


@contextmanager
def worker_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of single-threaded workers: forked from a preloaded server where the platform has one
    (no second import of torch per worker), spawned elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
    else:
        context = multiprocessing.get_context("spawn")
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})  # inherited by the workers' BLAS and OpenMP
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread,
                                 initargs=(initializer, initargs)) as pool:
            yield pool
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
