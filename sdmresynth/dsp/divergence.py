"""The Itakura-Saito divergence between a power spectrum and a model's variances: the likelihood of every model in
the package (-log N_c(s; 0, sigma^2) up to constants), in the two forms its users need."""

from __future__ import annotations

import torch

# Keeps logs finite on digital silence; far below any speech power (|S|^2 of a 16-bit LSB ~ 1e-7).
POWER_FLOOR = 1e-10


def itakura_saito(power: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """sum_f [ x_f / sigma_f^2 - log(x_f / sigma_f^2) - 1 ] from the log-variances a decoder predicts: (B, F), (B, F)
    -> (B,), zero when sigma^2 == x. The models' reconstruction term (the log-domain form stays finite where a
    variance underflows)."""
    ratio_log = torch.log(power + POWER_FLOOR) - log_variance
    return (torch.exp(ratio_log) - ratio_log - 1.0).sum(dim=-1)


def is_divergence(power: torch.Tensor, variance: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The same divergence from variances (an NMF's W H): summed over `dim` (the frequency bins), per frame."""
    ratio = power / variance
    return (ratio - torch.log(ratio) - 1.0).sum(dim=dim)
