"""The Itakura-Saito divergence between a power spectrum and a model's variances: the likelihood of every model in
the package (-log N_c(s; 0, sigma^2) up to constants), in the two forms its users need."""

from __future__ import annotations

import torch

# Keeps logs finite on digital silence; far below any speech power (|S|^2 of a 16-bit LSB ~ 1e-7).
POWER_FLOOR = 1e-10


def itakura_saito(power: torch.Tensor, log_variance: torch.Tensor, weight: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """sum_f w_f [ x_f / sigma_f^2 - log(x_f / sigma_f^2) - 1 ] from the log-variances a decoder predicts: (B, F),
    (B, F) -> (B,), zero when sigma^2 == x; w_f = 1 unless a weight (F,) is given. The models' reconstruction term
    (the log-domain form stays finite where a variance underflows)."""
    ratio_log = torch.log(power + POWER_FLOOR) - log_variance
    terms = torch.exp(ratio_log) - ratio_log - 1.0
    return (terms if weight is None else terms * weight).sum(dim=-1)


def bark_density_weights(bins: int, sample_rate: int = 16000) -> torch.Tensor:
    """Per-bin weights (bins,) proportional to the Bark scale's density at each bin's frequency, dz/df with
    z(f) = 13 atan(0.00076 f) + 3.5 atan((f / 7500)^2) (Zwicker and Terhardt 1980), with mean 1: summed over the bins
    of a critical band they give every band about the same weight, as a listener's ear (and PESQ) does."""
    f = torch.linspace(0.0, sample_rate / 2, bins, dtype=torch.float64)
    density = 13 * 0.00076 / (1 + (0.00076 * f) ** 2) + 3.5 * (2 * f / 7500**2) / (1 + (f / 7500) ** 4)
    return (density / density.mean()).float()


def is_divergence(power: torch.Tensor, variance: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The same divergence from variances (an NMF's W H): summed over `dim` (the frequency bins), per frame."""
    ratio = power / variance
    return (ratio - torch.log(ratio) - 1.0).sum(dim=dim)
