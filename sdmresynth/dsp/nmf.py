"""Non-negative matrix factorisation under the Itakura-Saito divergence (Fevotte, Bertin and Durrieu, Neural
Computation 2009): power V (F, N) ~ W H with non-negative atoms W (F, K) and activations H (K, N), by multiplicative
updates. Used by the IS-NMF baseline (atoms learned on training frames) and by enhancement's noise model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .divergence import is_divergence

NMF_FLOOR = 1e-10  # keeps W H and the data positive where the input is digital silence
# Fitted factors are kept at least this: multiplicative updates drive unused entries toward 0, and float32 values below
# 1.2e-38 (subnormal) make every matrix product with them 30-40 times slower on x86 CPUs. Far below anything that
# counts beside NMF_FLOOR in W H.
FACTOR_FLOOR = 1e-15


def is_nmf_update(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor, exponent: float = 1.0) -> torch.Tensor:
    """One multiplicative update of H (K, N) for V (F, N) ~ W H under the IS divergence; W's update is this one on
    the transposes. Exponent 1 is the usual rule; 1/2 never increases the divergence (Fevotte and Idier 2011)."""
    approx = w @ h
    if exponent == 1.0:
        return h * (w.T @ (v / approx.pow(2))) / (w.T @ (1.0 / approx))
    return h * ((w.T @ (v / approx.pow(2))) / (w.T @ (1.0 / approx))).pow(exponent)


def monotone_step(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of H (R, N) then W (F, R) for V (F, N) ~ W H with exponent 1/2, which never increases the
    divergence: (W, H)."""
    h = is_nmf_update(v, w, h, 0.5)
    return is_nmf_update(v.T, h.T, w.T, 0.5).T, h


def random_factors(bins: int, frames: int, rank: int, level: torch.Tensor, seed: int = 0,
                   offset: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random start: W (bins, rank) and H (rank, frames) uniform in [offset, offset + 1), drawn on the CPU in
    float64 (the same on every device), both scaled so that W H has the mean `level` (a 0-d tensor: the data's mean
    power), on level's device."""
    generator = torch.Generator().manual_seed(seed)
    w = (torch.rand(bins, rank, generator=generator, dtype=torch.float64) + offset).to(level.device)
    h = (torch.rand(rank, frames, generator=generator, dtype=torch.float64) + offset).to(level.device)
    scale = (level / (w @ h).mean()).sqrt()
    return w * scale, h * scale


@dataclass
class ISNMFCode:
    """Atoms W (F, K), non-negative, columns of unit L1 norm: the code of a frame is its activations."""

    atoms: np.ndarray
    iterations: int = 100

    def encode(self, power: np.ndarray, seed: int = 0) -> np.ndarray:
        """(N, F) power -> (N, K) activations, `iterations` multiplicative updates with W fixed, from a seeded random
        start at each frame's level."""
        v = torch.from_numpy(np.asarray(power, dtype=np.float64).T + NMF_FLOOR)
        w = torch.from_numpy(self.atoms)
        generator = torch.Generator().manual_seed(seed)
        h = torch.rand(w.shape[1], v.shape[1], dtype=torch.float64, generator=generator) + 0.5
        h *= v.mean(0, keepdim=True) / (w @ h).mean(0, keepdim=True)
        for _ in range(self.iterations):
            h = is_nmf_update(v, w, h)
        return h.T.numpy()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(N, K) activations -> (N, F) variances W H."""
        return codes @ self.atoms.T + NMF_FLOOR


def mean_divergence(power: np.ndarray, variance: np.ndarray) -> float:
    """Mean over frames (N, F) of the IS divergence of power from variance (the models' reconstruction term)."""
    data = torch.from_numpy(np.asarray(power, np.float64) + NMF_FLOOR)
    return float(is_divergence(data, torch.from_numpy(np.asarray(variance, np.float64))).mean())


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
        w, h = random_factors(v.shape[0], v.shape[1], atoms, v.double().mean(), seed)
        fit = NMFFit(w.float().numpy(), h.float().numpy(), 0, [])
    else:
        fit = resume
    w, h = torch.from_numpy(fit.w).clamp_min(FACTOR_FLOOR), torch.from_numpy(fit.h).clamp_min(FACTOR_FLOOR)
    while fit.updates < max_updates and not fit.converged(tolerance):
        h = is_nmf_update(v, w, h).clamp_min_(FACTOR_FLOOR)
        w = is_nmf_update(v.T, h.T, w.T).T
        norms = w.sum(0, keepdim=True)
        w, h = (w / norms).clamp_min_(FACTOR_FLOOR), (h * norms.T).clamp_min_(FACTOR_FLOOR)  # unit L1 atoms
        fit.updates += 1
        if fit.updates % check_every == 0 or fit.updates == max_updates:
            fit.history.append((fit.updates, float(is_divergence(v.double(), w.double() @ h.double(), dim=0).mean())))
            fit.w, fit.h = w.numpy(), h.numpy()
            if on_check:
                on_check(fit)
    return ISNMFCode(w.double().numpy())
