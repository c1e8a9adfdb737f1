"""SDM-VAE: a sparse code w over a dictionary, z = D w, with per-frame prior variances (paper eqs. 4-10)."""

from __future__ import annotations

import torch
from torch import nn

from .dictionary import make_dictionary, normalise_columns
from .losses import kl_sdm, sdm_gamma
from .base import Posterior, SpectralVAE
from .config import ModelConfig


class SDMVAE(SpectralVAE):
    """Spectral VAE whose encoder outputs q(w | x) over K atoms; prior p(w) = N(0, diag(gamma)).

    gamma is refreshed in closed form for every mini-batch (eq. 9) and held fixed for the
    gradient step on eq. 10, which is exactly what `kl` computes.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        dictionary = make_dictionary(config.dictionary, config.latent_dim, config.atoms)  # (L, K)
        if config.dictionary == "learned":
            self.dictionary = nn.Parameter(dictionary)
        else:
            self.register_buffer("dictionary", dictionary)

    def to_latent(self, code: torch.Tensor) -> torch.Tensor:
        return code @ self.dictionary.T  # (B, K) -> (B, L)

    def kl(self, posterior: Posterior, power: torch.Tensor) -> torch.Tensor:
        gamma = sdm_gamma(posterior.mu, posterior.log_var)
        return kl_sdm(posterior.mu, posterior.log_var, gamma)

    def constrain(self, parameters: dict[str, torch.Tensor]) -> None:
        if self.config.dictionary == "learned":
            normalise_columns(parameters["dictionary"])
