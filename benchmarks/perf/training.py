"""Training throughput of an L = 64 SDM-VAE at batch 128 (frames per second), against the machine's
FLOP ceiling, an ideal loop over in-memory tensors and a plain Dataset/DataLoader loop, side by side.

    python -m benchmarks.perf.training [--quick] [--json]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from ..common import Timer, main, result, speech_files
from torch.utils.data import DataLoader, TensorDataset

from sdmresynth.training.sets import load_frames
from sdmresynth.models import ModelConfig, build_model
from sdmresynth.dsp.stft import StftConfig
from sdmresynth.training.config import TrainConfig
from sdmresynth.training.loop import train_model
from sdmresynth.training.sweep import sweep_outputs, train_sweep
from sdmresynth.training.sweep_processes import sweep_processes, train_sweep_in_processes

CONFIG = ModelConfig(model_type="sdm-vae", latent_dim=64, atoms=64)
BATCH = 128
SWEEP_SEEDS = 4
FLOP_PER_FRAME = 0.94e6  # forward + backward of 513-128-64(x2) / 64-128-513


def flop_ceiling(steps: int) -> float:
    """Frames/s if the machine ran only the model's matrix products (forward and backward) at batch 128."""
    shapes = [(BATCH, 513, 128), (BATCH, 128, 64), (BATCH, 128, 64), (BATCH, 64, 128), (BATCH, 128, 513)]
    mats = [(torch.randn(b, i), torch.randn(i, o)) for b, i, o in shapes]
    flop = sum(2 * b * i * o for b, i, o in shapes) * 3  # forward, grad wrt input, grad wrt weight
    for a, w in mats:  # warm up
        a @ w
    with Timer() as t:
        for _ in range(steps):
            for a, w in mats:
                y = a @ w
                y @ w.T
                a.T @ y
    gflops = flop * steps / t.seconds / 1e9
    return gflops * 1e9 / FLOP_PER_FRAME, gflops


def ideal_loop(frames: torch.Tensor, steps: int) -> float:
    """Same model and optimizer, batches drawn from an in-memory tensor, nothing else."""
    model = build_model(CONFIG)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # the fastest Adam, as train_model
    order = torch.randperm(len(frames))
    with Timer() as t:
        for step in range(steps):
            batch = frames[order[(step * BATCH) % (len(frames) - BATCH):][:BATCH]]
            loss = model.loss(batch, model(batch))["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return steps * BATCH / t.seconds


def _single_thread_ideal(frames: torch.Tensor, steps: int) -> float:
    torch.set_num_threads(1)
    return ideal_loop(frames, steps)


def side_by_side(frames: torch.Tensor, steps: int, runs: int = 2) -> float:
    """Aggregate frames/s of `runs` independent one-thread training runs at once (how the zoo is trained)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(runs, mp_context=get_context("fork")) as pool:
        return sum(pool.map(_single_thread_ideal, [frames] * runs, [steps] * runs))


def dataloader_loop(frames: torch.Tensor, steps: int) -> float:
    """What a researcher would write first: TensorDataset + shuffling DataLoader."""
    model = build_model(CONFIG)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loader = DataLoader(TensorDataset(frames), batch_size=BATCH, shuffle=True)
    done = 0
    with Timer() as t:
        while done < steps:
            for (batch,) in loader:
                loss = model.loss(batch, model(batch))["loss"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                done += 1
                if done == steps:
                    break
    return steps * BATCH / t.seconds


def sdmresynth_loop(train: np.ndarray, val: np.ndarray, epochs: int) -> tuple[float, float]:
    """train_model itself: frames/s over the training part of an epoch, and validation time / epoch time."""
    validation = {}

    with tempfile.TemporaryDirectory() as folder:
        import sdmresynth.training.loop as train_module

        original = train_module.validation_loss

        def timed_validation(*args):
            with Timer() as t:
                value = original(*args)
            validation.setdefault("seconds", []).append(t.seconds)
            return value

        train_module.validation_loss = timed_validation
        try:
            _, state = train_model(CONFIG, TrainConfig(max_epochs=epochs), train, val, Path(folder) / "m.pt",
                                   torch.device("cpu"))
        finally:
            train_module.validation_loss = original
    epoch_seconds = sum(h["seconds"] for h in state.history)
    val_seconds = sum(validation["seconds"])
    return len(train) * epochs / (epoch_seconds - val_seconds), val_seconds / epoch_seconds


def whole_runs(train: np.ndarray, val: np.ndarray, epochs: int, seeds: int) -> dict[str, tuple[float, float]]:
    """Frames a second (summed over the models) of `epochs` epochs of train_model, of train_sweep training `seeds`
    models in this process (in turn, as on a CPU by default, and as one stacked computation, as on a GPU), and of the
    sweep as `sdmresynth train --seeds` runs it on these threads
    (split over processes: sweep_processes): each as (the whole run: start, standardisation, validation and all;
    the steady state: from the end of the first epoch to the end of the last, validation included)."""
    configs = [TrainConfig(max_epochs=epochs, seed=seed) for seed in range(seeds)]
    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    ends: dict[str, list[float]] = {}

    def timed(name: str, models: int, train_run: Callable[[Callable], object]) -> tuple[float, float]:
        ends[name] = []
        with Timer() as whole:
            train_run(lambda *report: ends[name].append(time.perf_counter()))
        first, last = ends[name][models - 1], ends[name][-1]  # every model's first epoch done, and the last
        return (len(train) * epochs * models / whole.seconds,
                len(train) * (epochs - 1) * models / (last - first))

    with tempfile.TemporaryDirectory() as folder:
        def outs(name):
            return sweep_outputs(Path(folder) / name, configs)

        return {
            "single": timed("single", 1, lambda report: train_model(CONFIG, configs[0], train, val,
                                                                    Path(folder) / "one.pt", cpu, on_epoch=report)),
            "one process": timed("one process", seeds, lambda report: train_sweep(
                CONFIG, configs, train, val, outs("m.pt"), cpu, on_epoch=report)),
            "stacked": timed("stacked", seeds, lambda report: train_sweep(
                CONFIG, configs, train, val, outs("stacked.pt"), cpu, on_epoch=report, stacked=True)),
            "split": timed("split", seeds, lambda report: train_sweep_in_processes(
                sweep_processes(seeds, threads, cpu), threads, CONFIG, configs, train, val, outs("split.pt"),
                [None] * seeds, on_epoch=report)),
        }


def _data_parallel_rank(rank: int, world: int, port: int, train: np.ndarray, val: np.ndarray, epochs: int) -> float:
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        _, state = train_model(CONFIG, TrainConfig(max_epochs=epochs), train, val, Path(folder) / "m.pt",
                               torch.device("cpu"))
    torch.distributed.destroy_process_group()
    return len(train) * epochs / sum(h["seconds"] for h in state.history)  # validation included


def data_parallel(train: np.ndarray, val: np.ndarray, epochs: int, world: int = 2) -> float:
    """train_model as `torchrun --nproc-per-node 2 sdmresynth train --threads 1` runs it: one model, each process
    takes half of every batch of 128, gradients averaged over gloo."""
    import socket
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ProcessPoolExecutor(world, mp_context=get_context("spawn")) as pool:
        rates = list(pool.map(_data_parallel_rank, range(world), [world] * world, [port] * world, [train] * world,
                              [val] * world, [epochs] * world))
    return min(rates)


def run(quick: bool = False) -> dict:
    files = speech_files(limit=8 if quick else None)
    store = tempfile.TemporaryDirectory()  # the whole runs read a frame store, as `sdmresynth train` does
    stored = load_frames(files, StftConfig(), cache_dir=Path(store.name)).frames
    frames = np.asarray(stored)
    val = frames[: len(frames) // 8]
    steps = 30 if quick else 1500
    tensor = torch.from_numpy(frames)
    ceiling, gflops = flop_ceiling(steps)
    ideal = ideal_loop(tensor, steps)
    loader = dataloader_loop(tensor, steps)
    ours, validation_share = sdmresynth_loop(frames, val, epochs=1 if quick else 3)
    parallel = side_by_side(tensor, steps)
    data_parallel_rate = data_parallel(frames, val, epochs=1 if quick else 3)
    whole = whole_runs(stored, val, epochs=2 if quick else 4, seeds=SWEEP_SEEDS)
    store.cleanup()
    processes = sweep_processes(SWEEP_SEEDS, torch.get_num_threads(), torch.device("cpu"))
    labels = {"single": "train_model", "one process": f"train_sweep, {SWEEP_SEEDS} seeds in turn in one process (sum)",
              "stacked": f"train_sweep, {SWEEP_SEEDS} seeds as one stacked computation in one process (sum)",
              "split": f"train --seeds: {SWEEP_SEEDS} seeds in {processes} process(es), in turn in each (sum)"}
    rows = [
        {"loop": "FLOP ceiling (matmuls only)", "frames_per_s": ceiling, "vs_ideal": ceiling / ideal},
        {"loop": "ideal in-memory loop", "frames_per_s": ideal, "vs_ideal": 1.0},
        {"loop": "Dataset/DataLoader loop", "frames_per_s": loader, "vs_ideal": loader / ideal},
        {"loop": "sdmresynth train_model", "frames_per_s": ours, "vs_ideal": ours / ideal},
        {"loop": "train_model, 2 processes x 1 thread (torchrun, one model)", "frames_per_s": data_parallel_rate,
         "vs_ideal": data_parallel_rate / ideal},
        {"loop": "2 runs side by side, 1 thread each (sum)", "frames_per_s": parallel, "vs_ideal": parallel / ideal},
        *({"loop": f"{labels[name]}, {part}", "frames_per_s": rates[index], "vs_ideal": rates[index] / ideal}
          for name, rates in whole.items() for index, part in enumerate(("whole run", "steady state"))),
    ]
    return result("training throughput, SDM-VAE L=64 K=64, batch 128", rows, threads=torch.get_num_threads(),
           matmul_gflops=gflops, ours_vs_flop_ceiling=ours / ceiling,
           data_parallel_vs_flop_ceiling=data_parallel_rate / ceiling, validation_share_of_epoch=validation_share,
           sweep_vs_one_run_whole=whole["split"][0] / whole["single"][0],
           sweep_vs_one_run_steady=whole["split"][1] / whole["single"][1],
           one_process_sweep_vs_one_run_steady=whole["one process"][1] / whole["single"][1],
           stacked_sweep_vs_one_run_steady=whole["stacked"][1] / whole["single"][1],
           sweep_vs_flop_ceiling_steady=whole["split"][1] / ceiling,
           train_frames=len(frames))


if __name__ == "__main__":
    main(run)
