"""Iterative amortised inference (Marino, Yue and Mandt 2018): learned steps that move the encoder's mean toward a
better code for the frame, each reading the gradient of the frame's objective at the current mean.

Where the encode-time refinement (SpectralVAE.refine) takes tens of Adam steps per frame, a learned step costs about
one pass of the encoder and one of the decoder forward and back, and is trained for what it is used for.
"""

from __future__ import annotations

import torch
from torch import nn


class InferenceStep(nn.Module):
    """One learned update of the code mean: mu + f(x, mu, g), with g the objective's gradient at mu (scaled to unit
    RMS per frame, its log RMS given beside it) and x the encoder's input. One tanh hidden layer plus a linear path;
    both start at zero, so that an untrained step leaves the encoder's mean as it is."""

    def __init__(self, input_dim: int, code_dim: int, hidden_dim: int) -> None:
        super().__init__()
        state_dim = 2 * code_dim + 1
        self.hidden = nn.Linear(input_dim + state_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, code_dim)
        self.skip = nn.Linear(state_dim, code_dim, bias=False)
        for weight in (self.out.weight, self.out.bias, self.skip.weight):
            nn.init.zeros_(weight)

    def forward(self, x: torch.Tensor, mu: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        """The updated mean (B, K) from the encoder's input x (B, F), the mean mu (B, K) and the gradient (B, K)."""
        rms = gradient.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
        state = torch.cat([mu, gradient / rms, rms.log()], dim=1)
        return mu + self.out(torch.tanh(self.hidden(torch.cat([x, state], dim=1)))) + self.skip(state)
