"""Unsupervised speech enhancement: a learned speech prior and an NMF noise model, separated by variational EM.

Leglaive, Girin and Horaud, "A variance modeling framework based on variational autoencoders for speech enhancement",
MLSP 2018; the encoder-initialised variational EM of Sadeghi et al. 2020 and Bie et al. 2022. Each STFT bin of the
noisy recording is x = s + n with s ~ N_c(0, g_t sigma^2(code_t)) (the model's decoder, a gain per frame) and
n ~ N_c(0, (W H)_ft) (a rank-R NMF learned on the file itself). q(code_t) is Gaussian with the encoder's variances and a
mean that the EM moves, under the model's prior times a temporal prior lambda sum_t ||code_t - code_t-1||^2 (speech
spectra change slowly; the noise that a speech decoder with a free gain can be made to draw does not). E-step: the
exact posterior of s (a Wiener filter). M-step: Adam steps on the codes of the expected complete-data objective
(each frame keeps its step only if that lowers the objective with its neighbours held, even frames then odd: a
generalised EM), the gains in closed form, the NMF by multiplicative updates with exponent 1/2 (which never increase
the IS divergence; Fevotte and Idier 2011). For the SDM-VAE the prior variances gamma of each frame's code are
re-estimated in closed form inside the KL, as in training. The output is the Wiener gain to the power 2 times the
noisy STFT (exponent 1 is the posterior mean of s), with the noisy phase.

The speech gains start at `speech_gain_init` (0.1) while the NMF starts as a fit of the whole mixture, and the EM runs
30 iterations: measured in docs/enhancement.md, the likelihood under these priors prefers letting the speech model
draw much of the noise (a start at gain 1 reaches a lower objective and a worse separation), so the defaults give the
noise model the first claim. The temporal prior's weight (2), the exponent (2), the noise rank (8) and the speech prior
(`vae-l64`, Table 1's VAE at L = 64) were chosen on the validation split by leave-one-noise-category-out (each noise
category scored with the settings the others chose; babble of training speakers one of the categories), the 30
iterations on the validation split mixed with the shared noise recordings and with white noise (docs/enhancement.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..dsp.divergence import POWER_FLOOR, is_divergence
from ..dsp.nmf import monotone_step, random_factors
from ..errors import UserError
from ..models import Posterior, SpectralVAE
from ..models.descent import adam_descent
from .coding import BLOCK_FRAMES, block_by_block
from .model import LoadedModel


@dataclass(frozen=True)
class EnhanceConfig:
    """The EM's settings; the defaults were chosen on the validation split and need no tuning per file."""

    noise_rank: int = 8  # R, atoms of the noise NMF
    iterations: int = 30  # EM iterations
    code_steps: int = 5  # Adam steps on the codes in each M-step
    code_lr: float = 0.02
    noise_init_updates: int = 20  # NMF updates on the mixture's power before the EM
    speech_gain_init: float = 0.1  # g_t at the start: the noise model gets the first claim on the power
    seed: int = 0  # of the NMF's random start
    wiener_exponent: float = 2.0  # the output's Wiener gain raised to this power: 1 is the posterior mean of s
    code_smoothness: float = 2.0  # lambda of the temporal prior on the codes, lambda sum_t ||code_t - code_t-1||^2

    def __post_init__(self) -> None:
        if self.noise_rank < 1 or self.iterations < 1 or self.code_steps < 0 or self.noise_init_updates < 0:
            raise ValueError("noise_rank and iterations must be >= 1, code_steps and noise_init_updates >= 0")
        if not (self.speech_gain_init > 0 and self.wiener_exponent > 0 and self.code_smoothness >= 0):
            raise ValueError("speech_gain_init and wiener_exponent must be > 0, code_smoothness >= 0")


@dataclass
class Enhanced:
    """The speech estimate (T, F) complex (the posterior mean of s; with wiener_exponent p, the Wiener gain to the
    power p times the noisy STFT), the speech and noise variances (T, F), the speech's codes (T, L: the mean of q
    in each frame), and the objective J after each iteration (negative log-likelihood of the noisy power, as the IS
    divergence of the noisy power from the model's, which differs from it by a constant of the data, plus the
    codes' KL and temporal prior, in nats; it never increases)."""

    speech: np.ndarray
    speech_variance: np.ndarray
    noise_variance: np.ndarray
    codes: np.ndarray
    objective: list[float]


class _SpeechPrior:
    """The model's side of the objective for one file: decoded shapes sigma^2(code) and the codes' KL."""

    def __init__(self, model: SpectralVAE, power: torch.Tensor) -> None:
        self.model, self.power = model, power.float()
        with torch.no_grad():
            posterior = model.encode(self.power)
        self.start, self.log_var = posterior.mu.detach().clone(), posterior.log_var.detach()

    def shape(self, code: torch.Tensor) -> torch.Tensor:
        """sigma^2 (T, F) in float64."""
        return self.model.decode(self.model.to_latent(code)).double().exp()

    def kl(self, code: torch.Tensor) -> torch.Tensor:
        """KL(q || prior) per frame (T,), the encoder's variances kept (SDM-VAE: gamma at its optimum)."""
        return self.model.kl(Posterior(code, self.log_var), self.power).double()


def _noise_start(power: torch.Tensor, config: EnhanceConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """W (F, R), H (R, T) of a seeded random start (the same on every device) fitted to the whole mixture (T, F)."""
    frames, bins = power.shape
    w, h = random_factors(bins, frames, config.noise_rank, power.mean(), config.seed, offset=0.1)
    for _ in range(config.noise_init_updates):
        w, h = monotone_step(power.T, w, h)
    return w, h


def check_speech_prior(model: SpectralVAE, name: str = "this model") -> None:
    """Refuse a model that cannot serve as the speech prior (VSC's code is gated, not Gaussian)."""
    if model.config.model_type == "vsc":
        raise UserError(f"{name}: enhance needs a VAE or SDM-VAE speech prior, not VSC")


def enhance_spectrogram(model: SpectralVAE, noisy: np.ndarray, config: EnhanceConfig = EnhanceConfig(),
                        start_codes: np.ndarray | None = None) -> Enhanced:
    """Enhance a noisy STFT (T, F) of a peak-normalised signal with model's speech prior (VAE or SDM-VAE). The EM
    starts from the encoder's means of the noisy frames, or from start_codes (T, K) where given (the encoder's
    variances are kept either way): measured in docs/enhancement.md, where it starts decides much of the result."""
    check_speech_prior(model)
    if start_codes is not None and start_codes.shape != (len(noisy), model.config.code_dim):
        raise ValueError(f"start_codes must be ({len(noisy)}, {model.config.code_dim}), not {start_codes.shape}")
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(noisy)).to(device)
    power = (x.real.pow(2) + x.imag.pow(2)).double() + POWER_FLOOR  # (T, F)
    if float(power.max()) <= 2 * POWER_FLOOR:  # digital silence: nothing to separate, and silence is the answer
        zeros = np.zeros(power.shape)
        return Enhanced(np.zeros_like(noisy), zeros, zeros, np.zeros((len(power), model.config.latent_dim)), [])
    prior = _SpeechPrior(model, power)
    w, h = _noise_start(power, config)
    code = prior.start if start_codes is None else torch.as_tensor(start_codes, dtype=prior.start.dtype, device=device)
    gain = torch.full((len(power), 1), config.speech_gain_init, dtype=torch.float64, device=device)
    with torch.no_grad():
        shape = prior.shape(code)
    history = []
    for _ in range(config.iterations):
        speech, noise = gain * shape, (w @ h).T
        wiener = speech / (speech + noise)
        posterior_var = speech * noise / (speech + noise)
        speech_power = wiener.pow(2) * power + posterior_var  # E|s|^2 under the posterior
        noise_power = (1 - wiener).pow(2) * power + posterior_var
        code, shape = _update_codes(prior, code, shape, speech_power, gain, config)
        gain = (speech_power / shape).mean(dim=1, keepdim=True)  # the IS-optimal gain of each frame
        w, h = monotone_step(noise_power.T, w, h)
        with torch.no_grad():
            history.append(float((is_divergence(power, gain * shape + (w @ h).T) + prior.kl(code)).sum()
                                 + _roughness(code, config.code_smoothness).sum()))
    speech, noise = gain * shape, (w @ h).T
    estimate = (speech / (speech + noise)).pow(config.wiener_exponent) * x.to(torch.complex128)
    return Enhanced(estimate.cpu().numpy(), speech.cpu().numpy(), noise.cpu().numpy(), code.cpu().numpy(), history)


def _edge_terms(later: torch.Tensor, earlier: torch.Tensor, weight: float) -> torch.Tensor:
    """weight ||later_t - earlier_t||^2 for each row: the temporal prior's term of an edge between two frames."""
    return weight * (later - earlier).double().pow(2).sum(dim=1)


def _roughness(code: torch.Tensor, weight: float) -> torch.Tensor:
    """The temporal prior's term of each edge between neighbouring frames, weight ||code_t - code_t-1||^2: (T - 1,)."""
    return _edge_terms(code[1:], code[:-1], weight)


def _update_codes(prior: _SpeechPrior, code: torch.Tensor, shape: torch.Tensor, speech_power: torch.Tensor,
                  gain: torch.Tensor, config: EnhanceConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam steps on Q(code) = IS terms of the expected speech power + KL + the temporal prior. Each frame keeps
    its new code only if that lowers Q with its neighbours held: even frames first, then odd ones (frames of one
    parity do not touch each other), so Q never increases (a generalised EM step)."""

    def frame_terms(candidate: torch.Tensor, candidate_shape: torch.Tensor) -> torch.Tensor:  # (T,)
        return is_divergence(speech_power, gain * candidate_shape) + prior.kl(candidate)

    def edges(candidate: torch.Tensor, around: torch.Tensor) -> torch.Tensor:
        """The temporal prior's terms of each frame of candidate with its neighbours in around: (T,)."""
        before = _edge_terms(candidate[1:], around[:-1], config.code_smoothness)
        after = _edge_terms(around[1:], candidate[:-1], config.code_smoothness)
        return nn.functional.pad(before, (1, 0)) + nn.functional.pad(after, (0, 1))

    if config.code_steps == 0:
        return code, shape
    candidate = adam_descent(code, lambda moving: frame_terms(moving, prior.shape(moving)).sum()
                             + _roughness(moving, config.code_smoothness).sum(), config.code_steps, config.code_lr)
    with torch.no_grad():
        candidate_shape = prior.shape(candidate)
        candidate_terms = frame_terms(candidate, candidate_shape)
        terms = frame_terms(code, shape)
        parity = torch.arange(len(code), device=code.device) % 2
        for turn in (0, 1):
            better = ((candidate_terms + edges(candidate, code) < terms + edges(code, code)) & (parity == turn))[:, None]
            code, shape = torch.where(better, candidate, code), torch.where(better, candidate_shape, shape)
        return code, shape


def enhance(loaded: LoadedModel, samples: np.ndarray, config: EnhanceConfig = EnhanceConfig(),
            block_frames: int = BLOCK_FRAMES, on_block: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The speech in a noisy 16 kHz signal (n,): a parametric Wiener filter (config.wiener_exponent 1: the posterior
    mean) under the model's speech prior and a noise NMF learned on the recording (enhance_spectrogram), with the
    noisy phase. Each block of block_frames frames (about 33 s) gets its own noise model. on_block(done, total)
    reports progress. Same length and level as the input."""
    return block_by_block(samples, block_frames, lambda spec, _: enhance_spectrogram(loaded.model, spec, config).speech,
                          on_block)
