"""Gradient descent on codes, frame by frame: Adam written out, for the per-frame code optimisations (encode-time
refinement, enhance's M-step); training's optimiser is torch's.

torch.optim's first step costs seconds of imports in a fresh process, which a command-line call on one short file
would pay; this is the same update (betas 0.9 and 0.999, eps 1e-8, no weight decay) with the same results.
"""

from __future__ import annotations

from typing import Callable

import torch


def adam_descent(start: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor], steps: int,
                 lr: float) -> torch.Tensor:
    """`steps` Adam steps on the scalar loss(x) from x = start; only x's gradient is computed (a model inside loss
    keeps its own gradients untouched). Returns the final x, detached."""
    x = start.detach().clone().requires_grad_(True)
    first, second = torch.zeros_like(x), torch.zeros_like(x)
    with torch.enable_grad():
        for step in range(1, steps + 1):
            (grad,) = torch.autograd.grad(loss(x), x)
            with torch.no_grad():
                first.lerp_(grad, 0.1)
                second.mul_(0.999).addcmul_(grad, grad, value=0.001)
                denominator = (second.sqrt() / (1 - 0.999**step) ** 0.5).add_(1e-8)
                x.addcdiv_(first, denominator, value=-lr / (1 - 0.9**step))
    return x.detach()
