"""sdmresynth: speech analysis-resynthesis with sparse variational autoencoders (SDM-VAE)."""

__version__ = "0.1.0"
