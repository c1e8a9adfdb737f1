"""Training on a GPU against one CPU core of the same machine: one L = 64, K = 64 SDM-VAE at batch 128 (frames a
second, the frames held in GPU memory), and sweeps of 4 and 16 models as one computation (summed), each with eager
steps and with steps replayed from CUDA graphs (and how far the graphed first epoch's loss is from the eager one's).
Prints one JSON object with the machine; without CUDA it says so and measures the CPU side only.

    python -m benchmarks.perf.gpu [--quick] [--json]

On a GPU machine, run `python -m pytest -q tests/training/test_graphs.py` first: its GPU cases check the replayed steps
against eager ones (losses and weights after two epochs, a run and a sweep).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..common import main, result, speech_files

SECONDS = 20.0  # each measurement trains for about this long (2 in quick mode), after a warm-up epoch


def _frames(quick: bool) -> np.ndarray:
    """Real speech frames (the shared train split where present, else the committed clips), tiled to 100,000."""
    from sdmresynth.dsp.stft import StftConfig
    from sdmresynth.training.sets import load_frames

    frames = load_frames(speech_files(limit=8), StftConfig()).frames
    return np.resize(frames, (20_000 if quick else 100_000, frames.shape[1]))


def _rate(models: int, frames: np.ndarray, device: torch.device, seconds: float,
          graphs: bool = False) -> tuple[float, list[float]]:
    """Frames a second (summed over the models) of train_epoch (one model) or train_epoch_together (several), with
    the steps replayed from CUDA graphs or not, and the models' training losses of the first epoch (the warm-up)."""
    from sdmresynth.models import ModelConfig
    from sdmresynth.training.config import TrainConfig
    from sdmresynth.training.loop import start_run, train_epoch
    from sdmresynth.training.minibatches import resident
    from sdmresynth.training.sweep import train_epoch_together

    config = ModelConfig(latent_dim=64, atoms=64, input_transform="log", standardise_input=True)
    configs = [TrainConfig(lr=1e-3, grad_clip=2000.0, seed=seed) for seed in range(models)]
    runs = [start_run(config, c, frames, device, None) for c in configs]
    held = resident(frames, device, force=device.type == "cuda")

    def epoch() -> list[float]:
        if models == 1:
            losses = [train_epoch(runs[0], configs[0], held, graphs=graphs)]
        else:
            losses = train_epoch_together(runs, configs, held, graphs=graphs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return losses

    first = epoch()  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        epoch()
        done += len(frames) * models
    return done / (time.perf_counter() - started), first


def run(quick: bool = False) -> dict:
    frames = _frames(quick)
    seconds = 2.0 if quick else SECONDS
    torch.set_num_threads(1)
    cpu, _ = _rate(1, frames, torch.device("cpu"), seconds)
    rows = [{"what": "one run, batch 128, one CPU core", "frames_per_s": cpu, "vs_one_core": 1.0}]
    extra = {"cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        extra["gpu"] = torch.cuda.get_device_name()
        for models in (1, 4, 16):
            eager, eager_losses = _rate(models, frames, torch.device("cuda"), seconds)
            graphed, graphed_losses = _rate(models, frames, torch.device("cuda"), seconds, graphs=True)
            agreement = max(abs(g - e) / abs(e) for g, e in zip(graphed_losses, eager_losses))
            what = f"{models} model(s), batch 128, GPU" + (" (sum)" if models > 1 else "")
            rows += [{"what": what + ", eager steps", "frames_per_s": eager, "vs_one_core": eager / cpu},
                     {"what": what + ", steps replayed from a CUDA graph", "frames_per_s": graphed,
                      "vs_one_core": graphed / cpu, "first_epoch_loss_vs_eager": agreement}]
    return result("training on a GPU against one CPU core", rows, targets="one run >= 10x, 16 models >= 100x one core",
                  **extra)


if __name__ == "__main__":
    main(run)
