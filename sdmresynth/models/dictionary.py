"""Dictionaries for the SDM-VAE code model z = D w: identity and the overcomplete DCT of K-SVD."""

from __future__ import annotations

import math

import torch


def identity_dictionary(latent_dim: int) -> torch.Tensor:
    """The L x L identity: SDM-VAE with it differs from a VAE only by the prior."""
    return torch.eye(latent_dim)


def dct_dictionary(latent_dim: int, atoms: int) -> torch.Tensor:
    """L x K DCT dictionary (paper eq. 11) with unit-norm columns.

    Column 0 is constant 1/sqrt(L); column k >= 1 is cos(pi k l / K), l = 0..L-1, minus its mean,
    divided by its norm. K = L is complete, K > L overcomplete.
    """
    rows = torch.arange(latent_dim, dtype=torch.float64)[:, None]
    cols = torch.arange(atoms, dtype=torch.float64)[None, :]
    dictionary = torch.cos(math.pi * rows * cols / atoms)
    dictionary[:, 1:] -= dictionary[:, 1:].mean(dim=0, keepdim=True)
    dictionary[:, 0] = 1.0
    dictionary /= dictionary.norm(dim=0, keepdim=True)
    return dictionary.float()


def make_dictionary(kind: str, latent_dim: int, atoms: int) -> torch.Tensor:
    """The initial dictionary for a model config (a learned one starts from the DCT)."""
    if kind == "identity":
        if atoms != latent_dim:
            raise ValueError(f"an identity dictionary needs atoms == latent_dim, got {atoms} != {latent_dim}")
        return identity_dictionary(latent_dim)
    if kind in ("dct", "learned"):
        return dct_dictionary(latent_dim, atoms)
    raise ValueError(f"unknown dictionary {kind!r} (identity, dct or learned)")


def normalise_columns(dictionary: torch.Tensor) -> None:
    """Rescale the columns of a learnable dictionary (L, K), or of several stacked (M, L, K), to unit norm, in place."""
    with torch.no_grad():
        dictionary /= dictionary.norm(dim=-2, keepdim=True).clamp_min(1e-8)
