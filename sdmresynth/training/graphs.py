"""Training steps replayed from a CUDA graph: one launch a step instead of the hundreds of small kernels a step of
these models makes, which bound a GPU's speed at batch 128 (issue #35).

A step here is a function of tensors (the batch and the noise drawn for it beforehand) that does its device work in
place (forward, backward, clipping, the optimiser's step, the model's constraint) and returns the batch's summed
loss, which StepGraph adds up on the device. StepGraph runs its first step eagerly (a warm-up on a side stream: the
optimiser's state, the libraries' handles), records the second as a graph on copies of its inputs, and replays that
graph for every later step with the new inputs copied in. A run keeps its graph from epoch to epoch (what changes
between epochs, such as VSC's warm-up weights, lives in buffers the graph reads) until something the recorded step
holds is replaced: a learning-rate decay's new optimiser, or, in a sweep's stacked step, the weights stacked anew each
epoch. Off CUDA the same buffered steps run eagerly, which is what the CPU tests check.
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
    """`step(*inputs)` for each full batch: eagerly the first time, then recorded once and replayed. owners: the
    objects the recorded step holds (say, the optimiser), for `serves`."""

    def __init__(self, step: Callable[..., torch.Tensor], owners: tuple = ()) -> None:
        self.step = step
        self.owners = owners
        self.inputs: list[torch.Tensor] | None = None  # the copies a recorded step reads
        self.total: torch.Tensor | None = None  # the steps' summed losses, on the device
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False  # a recording failed: steps run eagerly from then on

    def serves(self, *owners: object) -> bool:
        """Whether this graph was made for these very objects (a decay's new optimiser needs a new graph)."""
        return len(owners) == len(self.owners) and all(a is b for a, b in zip(owners, self.owners))

    def take_total(self) -> torch.Tensor:
        """The summed losses of the steps since the last call (zero when there were none)."""
        if self.total is None:
            return torch.zeros(())
        taken = self.total.clone()
        self.total.zero_()
        return taken

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
            self._add(self.inputs)

    def _add(self, inputs) -> None:
        loss = self.step(*inputs)
        if self.total is None:
            self.total = torch.zeros_like(loss)
        self.total.add_(loss)

    def _warm_up(self, inputs: tuple[torch.Tensor, ...]) -> None:
        if not inputs[0].is_cuda:
            self._add(inputs)
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._add(inputs)
        torch.cuda.current_stream().wait_stream(side)

    def _record(self) -> None:
        if not self.inputs[0].is_cuda:
            return
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # the batch prefetcher's thread may run
                self.total.add_(self.step(*self.inputs))
        except RuntimeError as error:  # recording does not run the step: it runs eagerly instead
            warnings.warn(f"training steps run without a CUDA graph (recording one failed: {error})", stacklevel=2)
            self.eager = True
            return
        self.graph = graph
