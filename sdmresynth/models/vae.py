"""The plain VAE of the paper's ref. [3]: q(z | x) Gaussian, prior N(0, I)."""

from __future__ import annotations

import torch

from .losses import kl_standard_normal
from .base import Posterior, SpectralVAE


class VAE(SpectralVAE):
    """Spectral VAE with a standard-normal prior."""

    def kl(self, posterior: Posterior, power: torch.Tensor) -> torch.Tensor:
        return kl_standard_normal(posterior.mu, posterior.log_var)
