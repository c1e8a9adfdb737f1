"""Data-parallel training across processes (torchrun): who we are, and the few collectives the loop needs.

Launched by `torchrun --nproc-per-node N $(command -v sdmresynth) train ...`: the gloo backend on CPU, nccl on GPU.
Without torchrun's environment everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel run."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_world() -> int:
    """How many processes torchrun launched for this run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def start(device: torch.device) -> Shard:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or run alone."""
    world = launched_world()
    if world <= 1:
        return Shard()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Shard(dist.get_rank(), dist.get_world_size())


def stop() -> None:
    """Leave the process group, if any, while the interpreter is whole: gloo's worker threads can otherwise outlive
    it at exit and abort the process (SIGABRT) after the work is done."""
    if dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """On GPUs, each process of a node takes the GPU of its LOCAL_RANK."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def total(value: float, shard: Shard, device: torch.device) -> float:
    """Sum of value over all processes."""
    if shard.world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def average(tensors: list[torch.Tensor], shard: Shard) -> None:
    """Average tensors (gradients) over all processes, in place."""
    if shard.world == 1:
        return
    for tensor in tensors:
        dist.all_reduce(tensor)
        tensor.div_(shard.world)


def barrier(shard: Shard) -> None:
    if shard.world > 1:
        dist.barrier()
