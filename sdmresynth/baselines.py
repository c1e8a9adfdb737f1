"""The classical codes a reviewer compares a learned one with, on the same power frames (N, F) as the models.

- PCA: the top L principal directions of the per-bin standardised log power; code = projection (L numbers),
  decode = back-projection, un-standardise, exp. The best linear code of size L in the log domain.
- IS-NMF (Fevotte, Bertin and Durrieu, Neural Computation 2009): power ~ W H with K non-negative atoms W (F x K)
  learned under the Itakura-Saito divergence, the divergence of our likelihood, by multiplicative updates; the
  activations H of new frames are inferred with W fixed. The updates alone leave H very sparse (Hoyer about 0.9);
  an L1 weight on H (added to the update's denominator, relative to each frame's mean power) made it measurably
  denser on speech, not sparser (64 atoms: Hoyer 0.933 -> 0.911 at weight 0.1), so it is not offered.
Both decode to variances sigma^2 (N, F), resynthesised with the input's phase like every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .losses import POWER_FLOOR

NMF_FLOOR = 1e-10  # keeps W H and the data positive where the input is digital silence


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


def is_nmf_update(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor, exponent: float = 1.0) -> torch.Tensor:
    """One multiplicative update of H (K, N) for V (F, N) ~ W H under the IS divergence; W's update is this one on
    the transposes. Exponent 1 is the usual rule; 1/2 never increases the divergence (Fevotte and Idier 2011)."""
    approx = w @ h
    if exponent == 1.0:
        return h * (w.T @ (v / approx.pow(2))) / (w.T @ (1.0 / approx))
    return h * ((w.T @ (v / approx.pow(2))) / (w.T @ (1.0 / approx))).pow(exponent)


@dataclass
class ISNMFCode:
    """Atoms W (F, K), non-negative, columns of unit L1 norm."""

    atoms: np.ndarray
    iterations: int = 100

    def encode(self, power: np.ndarray, seed: int = 0) -> np.ndarray:
        """(N, F) power -> (N, K) activations, `iterations` multiplicative updates with W fixed."""
        v = torch.from_numpy(np.asarray(power, dtype=np.float64).T + NMF_FLOOR)
        w = torch.from_numpy(self.atoms)
        generator = torch.Generator().manual_seed(seed)
        h = torch.rand(w.shape[1], v.shape[1], dtype=torch.float64, generator=generator) + 0.5
        h *= v.mean(0, keepdim=True) / (w @ h).mean(0, keepdim=True)  # start at the frames' level
        for _ in range(self.iterations):
            h = is_nmf_update(v, w, h)
        return h.T.numpy()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(N, K) activations -> (N, F) variances W H."""
        return codes @ self.atoms.T + NMF_FLOOR


def is_divergence(power: np.ndarray, variance: np.ndarray) -> float:
    """Mean over frames of sum_f [x / s - log(x / s) - 1] (the models' reconstruction term)."""
    ratio = (np.asarray(power, np.float64) + NMF_FLOOR) / variance
    return float((ratio - np.log(ratio) - 1).sum(1).mean())


@dataclass
class NMFFit:
    """A dictionary fit in progress: atoms W (F, K), activations H (K, N) of the training frames, the updates done
    and the training divergence (mean IS divergence per frame) after every check, as (update, divergence) rows."""

    w: np.ndarray
    h: np.ndarray
    updates: int
    history: list[tuple[int, float]]

    def converged(self, tolerance: float) -> bool:
        """Did the last check lower the divergence by less than `tolerance` (relative) since the one before?"""
        if len(self.history) < 2:
            return False
        (_, before), (_, now) = self.history[-2], self.history[-1]
        return before - now < tolerance * now


def fit_is_nmf(power: np.ndarray, atoms: int, max_updates: int = 200, tolerance: float = 0.0, check_every: int = 50,
               seed: int = 0, resume: NMFFit | None = None,
               on_check: Callable[[NMFFit], None] | None = None) -> ISNMFCode:
    """Learn K atoms on frames (N, F) by alternating multiplicative IS-NMF updates of H and W (in float32: the
    divergence after 100 updates equals float64's to 0.1 %, at twice the speed). Every `check_every` updates the
    training divergence is measured; the fit stops when a check lowers it by less than `tolerance` (relative), or
    at `max_updates`. `resume` goes on from a saved NMFFit (`on_check` gets one at every check)."""
    v = torch.from_numpy(np.asarray(power, dtype=np.float64).T + NMF_FLOOR).float()  # (F, N)
    if resume is None:
        generator = torch.Generator().manual_seed(seed)
        w = torch.rand(v.shape[0], atoms, dtype=torch.float64, generator=generator) + 0.5
        h = torch.rand(atoms, v.shape[1], dtype=torch.float64, generator=generator) + 0.5
        scale = (v.double().mean() / (w @ h).mean()).sqrt()
        fit = NMFFit((w * scale).float().numpy(), (h * scale).float().numpy(), 0, [])
    else:
        fit = resume
    w, h = torch.from_numpy(fit.w), torch.from_numpy(fit.h)
    while fit.updates < max_updates and not fit.converged(tolerance):
        h = is_nmf_update(v, w, h)
        w = is_nmf_update(v.T, h.T, w.T).T
        norms = w.sum(0, keepdim=True)
        w, h = w / norms, h * norms.T  # unit L1 atoms: the product is unchanged
        fit.updates += 1
        if fit.updates % check_every == 0 or fit.updates == max_updates:
            ratio = v.double() / (w.double() @ h.double())
            fit.history.append((fit.updates, float((ratio - torch.log(ratio) - 1).sum(0).mean())))
            fit.w, fit.h = w.numpy(), h.numpy()
            if on_check:
                on_check(fit)
    return ISNMFCode(w.double().numpy())
