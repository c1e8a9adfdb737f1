"""Loss terms as pure functions: the KL divergences of each prior (the reconstruction term, the Itakura-Saito
divergence, is dsp.divergence.itakura_saito)."""

from __future__ import annotations

import torch


def kl_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the last axis: (B, K) -> (B,)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1.0).sum(dim=-1)


GAMMA_FLOOR = 1e-30  # where a code is exactly 0 (a soft threshold) and its variance underflows, log gamma stays finite


def sdm_gamma(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Closed-form prior variances (paper eq. 9): gamma = mu^2 + sigma^2, held fixed (no gradient)."""
    return (mu.pow(2) + log_var.exp()).clamp_min(GAMMA_FLOOR).detach()


def kl_sdm(mu: torch.Tensor, log_var: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, diag(gamma))) summed over the last axis: (B, K) -> (B,)."""
    var = log_var.exp()
    return 0.5 * (torch.log(gamma) - log_var + (var + mu.pow(2)) / gamma - 1.0).sum(dim=-1)
