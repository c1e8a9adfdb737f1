"""Training steps replayed from a CUDA graph: one launch a step instead of the hundreds of small kernels a step of
these models makes, which bound a GPU's speed at batch 128 (issue #35).

A step here is a function of tensors (the batch and the noise drawn for it beforehand) that does its device work in
place: forward, backward, clipping, the optimiser's step, the model's constraint, the running loss. StepGraph runs the
first step of an epoch eagerly (a warm-up on a side stream: the optimiser's state, the libraries' handles), records the
second as a graph on copies of its inputs, and replays that graph for every later step with the new inputs copied in.
Anything that changes a step's arithmetic between epochs (a learning-rate decay, a model leaving a sweep) comes with
the next epoch's new StepGraph. Off CUDA the same buffered steps run eagerly, which is what the CPU tests check.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from . import distributed


def use_graphs(requested: bool | None, device: torch.device, shard: distributed.Shard,
               optimizers: list[torch.optim.Optimizer]) -> bool:
    """Whether an epoch's full batches go through a StepGraph: asked for (True), or by default (None) on a GPU for a
    single process whose Adam has the fused kernel (its step counter lives on the device, so a graph can replay it)."""
    if requested is not None:
        return requested
    fused = all(group.get("fused") for optimizer in optimizers for group in optimizer.param_groups)
    return device.type == "cuda" and shard.world == 1 and fused


class StepGraph:
    """`step(*inputs)` for each full batch of an epoch: eagerly the first time, then recorded once and replayed."""

    def __init__(self, step: Callable[..., None]) -> None:
        self.step = step
        self.inputs: list[torch.Tensor] | None = None  # the copies a recorded step reads
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False  # a recording failed: steps run eagerly from then on

    def __call__(self, *inputs: torch.Tensor) -> None:
        if self.inputs is None:
            self.inputs = [x.clone() for x in inputs]
            self._warm_up(inputs)
            return
        for held, new in zip(self.inputs, inputs):
            held.copy_(new)
        if self.graph is None and not self.eager:
            self._record()
        if self.graph is not None:
            self.graph.replay()
        else:
            self.step(*self.inputs)

    def _warm_up(self, inputs: tuple[torch.Tensor, ...]) -> None:
        if not inputs[0].is_cuda:
            self.step(*inputs)
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.step(*inputs)
        torch.cuda.current_stream().wait_stream(side)

    def _record(self) -> None:
        if not self.inputs[0].is_cuda:
            return
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # the batch prefetcher's thread may run
                self.step(*self.inputs)
        except RuntimeError as error:  # recording does not run the step: it runs eagerly instead
            warnings.warn(f"training steps run without a CUDA graph (recording one failed: {error})", stacklevel=2)
            self.eager = True
            return
        self.graph = graph
