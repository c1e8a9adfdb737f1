"""The classical codes a reviewer compares a learned one with, on the same power frames (N, F) as the models.

- PCA (here): the top L principal directions of the per-bin standardised log power; code = projection (L numbers),
  decode = back-projection, un-standardise, exp. The best linear code of size L in the log domain.
- IS-NMF (`dsp.nmf`: `ISNMFCode`, `fit_is_nmf`): power ~ W H with K non-negative atoms learned under the
  Itakura-Saito divergence, the divergence of our likelihood; the activations of new frames are inferred with W
  fixed. The updates alone leave H very sparse (Hoyer about 0.9); an L1 weight on H (added to the update's
  denominator, relative to each frame's mean power) made it measurably denser on speech, not sparser (64 atoms:
  Hoyer 0.933 -> 0.911 at weight 0.1), so it is not offered.
Both decode to variances sigma^2 (N, F), resynthesised with the input's phase like every model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dsp.divergence import POWER_FLOOR


@dataclass
class PCACode:
    """mean, std (F,) of the log power and components (F, L), orthonormal columns by decreasing variance."""

    mean: np.ndarray
    std: np.ndarray
    components: np.ndarray

    def encode(self, power: np.ndarray) -> np.ndarray:
        """(N, F) power -> (N, L) codes."""
        return ((np.log(power + POWER_FLOOR) - self.mean) / self.std) @ self.components

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(N, L) codes -> (N, F) variances."""
        return np.exp(codes @ self.components.T * self.std + self.mean)


def fit_pca(power: np.ndarray, latent_dim: int, chunk: int = 65536) -> PCACode:
    """PCA of the standardised log power of frames (N, F), streamed in chunks (sums in float64)."""
    count, total, squares = 0, 0.0, 0.0
    for start in range(0, len(power), chunk):
        logs = np.log(np.asarray(power[start : start + chunk], dtype=np.float64) + POWER_FLOOR)
        count, total, squares = count + len(logs), total + logs.sum(0), squares + logs.T @ logs
    mean = total / count
    covariance = squares / count - np.outer(mean, mean)
    std = np.sqrt(np.clip(np.diag(covariance), 1e-12, None))
    correlation = covariance / np.outer(std, std)
    values, vectors = np.linalg.eigh(correlation)
    order = np.argsort(values)[::-1][:latent_dim]
    return PCACode(mean, std, vectors[:, order])
