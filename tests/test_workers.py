"""The worker pools: what their processes inherit, that the caller's environment is left as it was, and pools started
ahead of their jobs."""

import multiprocessing
import os
from pathlib import Path

import pytest

from sdmresynth.workers import ONE_THREAD, REUSE_FREED_MEMORY, light_pool, started_light_pool


def _environment_of_worker(names: list[str]) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in names}


def test_store_workers_run_one_thread_with_malloc_reuse_and_leave_the_callers_environment(monkeypatch):
    names = [*ONE_THREAD, *REUSE_FREED_MEMORY]
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    with light_pool(1) as pool:
        seen = pool.submit(_environment_of_worker, names).result()
    assert seen == ONE_THREAD | REUSE_FREED_MEMORY
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MALLOC_MMAP_THRESHOLD_" not in os.environ


def test_a_started_pool_has_its_workers_running_before_it_is_given_a_job():
    before = {process.pid for process in multiprocessing.active_children()}
    with started_light_pool(2, os.getpid) as started:
        running = {process.pid for process in multiprocessing.active_children()} - before
        assert started.size == 2 and len(running) == 2
        assert started.executor.submit(os.getpid).result() in running


def test_the_free_cores_are_those_other_work_leaves(monkeypatch):
    import sdmresynth.workers as workers

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    for running, free in ((0, 8), (3, 5), (8, 1), (30, 1)):  # threads of other processes running now
        monkeypatch.setattr(workers, "_others_running", lambda running=running: running)
        assert workers.free_cores() == free
    monkeypatch.setattr(workers, "_others_running", lambda: None)  # no /proc/loadavg: the 1-minute load average
    monkeypatch.setattr("os.getloadavg", lambda: (2.6, 0.0, 0.0))
    assert workers.free_cores() == 5


def test_the_threads_running_now_are_read_from_the_system():
    import sdmresynth.workers as workers

    if not Path("/proc/loadavg").is_file():
        pytest.skip("no /proc/loadavg here")
    assert 0 <= workers._others_running() < 10_000
