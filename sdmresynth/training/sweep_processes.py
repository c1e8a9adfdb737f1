"""A sweep split over processes, one share of the models each, on a CPU with several threads.

At the sizes of this project one model's training step is compute-bound on one CPU core, and a second thread speeds a
process up by a few per cent only, while a second process adds 40-85 % (docs/performance.md, section 11). So
a sweep on N threads runs as min(N, models) processes of N / processes threads, each training its share of the models
as one computation (`sweep.train_sweep`). The models are independent: each one's run, state files and checkpoint are
what the one-process sweep (and its own single run) gives, up to float rounding. The parent prints what the processes
report and returns every model's final state.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import UserError
from ..models import ModelConfig
from ..models.checkpoint import Checkpoint
from ..workers import REUSE_FREED_MEMORY, child_environment
from . import distributed
from .config import TrainConfig
from .state import EpochReport, TrainState
from .sweep import train_sweep

POLL_SECONDS = 1.0  # how often the parent looks for a process that died without a word


def sweep_processes(models: int, threads: int, device: torch.device) -> int:
    """How many processes a sweep of `models` on `threads` CPU threads runs as: one per thread (up to one per model);
    one on a GPU or under torchrun (whose processes share each model's batches)."""
    if device.type != "cpu" or distributed.launched_world() > 1:
        return 1
    return max(1, min(models, threads))


def _share(processes: int, models: int) -> list[list[int]]:
    """The models each process trains: every processes-th, so that shares differ by one model at most."""
    return [list(range(first, models, processes)) for first in range(processes)]


def _train_share(share: list[int], threads: int, reports: multiprocessing.Queue, model_config: ModelConfig,
                 configs: list[TrainConfig], train_frames: np.ndarray, val_frames: np.ndarray, outs: list[Path],
                 saved: list[Checkpoint | None], metadata: dict | None, overwrite: bool, with_steps: bool) -> None:
    """A process's part: its models as one sweep; every epoch's report, then the final states, sent to the parent."""
    torch.set_num_threads(threads)
    try:
        states = train_sweep(model_config, [configs[m] for m in share], train_frames, val_frames,
                             [outs[m] for m in share], torch.device("cpu"), [saved[m] for m in share], metadata,
                             lambda index, report: reports.put(("epoch", share[index], report)),
                             (lambda step, steps: reports.put(("step", step, steps))) if with_steps else None,
                             overwrite)
        reports.put(("done", share, states))
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group; each one's last epoch is saved
        reports.put(("interrupted", share, None))
    except UserError as error:
        reports.put(("error", share, str(error)))
    except Exception:  # a bug: the parent shows where
        reports.put(("crash", share, traceback.format_exc()))


def train_sweep_in_processes(processes: int, threads: int, model_config: ModelConfig, configs: list[TrainConfig],
                             train_frames: np.ndarray, val_frames: np.ndarray, outs: list[Path],
                             saved: list[Checkpoint | None], metadata: dict | None = None,
                             on_epoch: Callable[[int, EpochReport], None] | None = None,
                             on_step: Callable[[int, int], None] | None = None,
                             overwrite: bool = False) -> list[TrainState]:
    """train_sweep's models (saved: each one's state to resume, or None) trained in `processes` processes of
    `threads` / processes threads each; on_epoch(model index, report) and on_step (the first process's steps) are
    called here as the processes report. Returns each model's final state. Frames from the frame store travel as the
    path of their mapping, not as data."""
    context = multiprocessing.get_context("spawn")  # no fork: the parent's OpenMP threads do not survive one
    reports = context.Queue()
    shares = _share(processes, len(configs))
    workers = [context.Process(target=_train_share, daemon=True,
                               args=(share, max(1, threads // processes), reports, model_config, configs, train_frames,
                                     val_frames, outs, saved, metadata, overwrite, index == 0))
               for index, share in enumerate(shares)]
    with child_environment(REUSE_FREED_MEMORY):  # each step's blocks reused, not faulted in afresh
        for worker in workers:
            worker.start()
    states: list[TrainState | None] = [None] * len(configs)
    try:
        finished = 0
        while finished < len(workers):
            try:
                kind, where, payload = reports.get(timeout=POLL_SECONDS)
            except queue.Empty:
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                if dead and reports.empty():
                    raise UserError(f"a process of the sweep ended without a word (exit code {dead[0]}); the models' "
                                    "last finished epochs are saved: rerun with --resume") from None
                continue
            if kind == "epoch" and on_epoch:
                on_epoch(where, payload)
            elif kind == "step" and on_step:
                on_step(where, payload)
            elif kind == "done":
                for model, state in zip(where, payload):
                    states[model] = state
                finished += 1
            elif kind == "interrupted":
                raise KeyboardInterrupt
            elif kind == "error":
                raise UserError(payload)
            elif kind == "crash":
                raise RuntimeError(f"a process of the sweep failed:\n{payload}")
    finally:
        for worker in workers:  # done, or (interrupted) let go within a few seconds
            worker.join(timeout=5 * POLL_SECONDS)
            if worker.is_alive():
                worker.terminate()  # its last finished epoch is saved (written atomically)
                worker.join()
    return states
