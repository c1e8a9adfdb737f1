"""Mini-batches streamed from frames in memory or memory-mapped from the frame store, onto the training device.

Only the rows a batch needs are read (each data-parallel process reads only its share of each global batch). On a
GPU the rows are gathered into pinned memory by a background thread one batch ahead and copied asynchronously.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator

import numpy as np
import torch

STANDARDISE_CHUNK = 65536  # frames per chunk of the streamed mean/std (about 130 MB of float32)


RESIDENT_SHARE = 0.5  # the training frames move into GPU memory when they take at most this share of what is free


def resident(frames: np.ndarray, device: torch.device, force: bool = False) -> np.ndarray | torch.Tensor:
    """The training frames held in the device's memory (a tensor, gathered there by index: no copy from the host per
    batch) where the device is a GPU with room for them, or `force`; otherwise the frames as they are."""
    if not force:
        if device.type != "cuda":
            return frames
        free, _ = torch.cuda.mem_get_info(device)
        if frames.shape[0] * frames.shape[1] * 4 > RESIDENT_SHARE * free:
            return frames
    return torch.cat([chunk for chunk in chunks(frames, STANDARDISE_CHUNK, device)])


def gather(frames: np.ndarray | torch.Tensor, rows: np.ndarray | torch.Tensor, pin: bool = False) -> torch.Tensor:
    """frames[rows] (rows' shape, then F) as a tensor: one gather from memory, from the page cache of a mapping, or
    (frames held on a device, `rows` best there too) on the device."""
    if isinstance(frames, torch.Tensor):
        return frames[torch.as_tensor(rows, device=frames.device)]
    batch = torch.from_numpy(np.take(frames, rows, axis=0))
    return batch.pin_memory() if pin else batch


def batches(frames: np.ndarray | torch.Tensor, order: np.ndarray, batch_size: int, rank: int, world: int,
            device: torch.device) -> Iterator[torch.Tensor]:
    """Rows rank, rank + world, ... of each global batch of `order`, on device (prefetched there on a GPU, or gathered
    there when the frames are resident). `order` (N,) gives batches (B, F); the orders of several models (M, N) give
    their batches stacked (M, B, F)."""
    if isinstance(frames, torch.Tensor):  # the whole order goes to the device once, not a batch's rows each step
        order = torch.from_numpy(order).to(frames.device)
    slices = (order[..., start : start + batch_size][..., rank::world] for start in range(0, order.shape[-1],
                                                                                         batch_size))
    if device.type != "cuda" or isinstance(frames, torch.Tensor):
        for rows in slices:
            yield gather(frames, rows).to(device)
        return
    yield from _prefetched((gather(frames, rows, pin=True) for rows in slices), device)


def _prefetched(host_batches: Iterator[torch.Tensor], device: torch.device, depth: int = 2) -> Iterator[torch.Tensor]:
    """Batches gathered by a background thread `depth` ahead, copied to the device without blocking."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        for batch in host_batches:
            ready.put(batch)
        ready.put(done)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    while (batch := ready.get()) is not done:
        yield batch.to(device, non_blocking=True)
    thread.join()


def chunks(frames: np.ndarray, size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Consecutive blocks of `size` frames on device: validation and statistics stream, never load, the set."""
    for start in range(0, len(frames), size):
        yield torch.from_numpy(np.array(frames[start : start + size], dtype=np.float32)).to(device)  # a copy
