"""The model families behind one interface, built from a ModelConfig."""

from __future__ import annotations

from .base import DrawnNoise, ForwardResult, Noise, Posterior, SpectralVAE
from .config import ModelConfig
from .sdm_vae import SDMVAE
from .vae import VAE
from .vsc import VSC

MODEL_CLASSES: dict[str, type[SpectralVAE]] = {"vae": VAE, "sdm-vae": SDMVAE, "vsc": VSC}


def build_model(config: ModelConfig) -> SpectralVAE:
    """A freshly initialised model for config."""
    return MODEL_CLASSES[config.model_type](config)


__all__ = ["DrawnNoise", "ForwardResult", "ModelConfig", "Noise", "Posterior", "SDMVAE", "SpectralVAE", "VAE", "VSC",
           "build_model"]
