"""Variational sparse coding (VSC): a spike-and-slab latent space.

F. Tonolini, B. S. Jensen, R. Murray-Smith, "Variational Sparse Coding", UAI 2019/2020 (the SDM-VAE paper's
ref. [11]). Followed here: the recognition model q(z|x) = prod_j [gamma_j N(z_j; mu_j, sigma_j^2)
+ (1 - gamma_j) delta(z_j)] (paper eq. 4); the relaxed selector s = sigmoid(c (eta + gamma - 1)), eta ~ U(0, 1),
and the sample z = s * (mu + sigma * eps) (paper sec. 3.2 and the authors' code); the closed-form KL against a
spike-and-slab prior with slab N(0, 1) and spike probability alpha (paper eq. 6); and, as in the authors'
TensorFlow code (on by default), the prior built from learned pseudo-inputs u_i weighted per input by a selector
network, the aggregate term that pulls the pseudo-inputs' mean spike probability to alpha, and the spike warm-up
in which the slab is phased in (z sampled from mean lam*mu, log-variance lam*log sigma^2, lam 0 -> 1).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Encoder, ForwardResult, Noise, Posterior, SpectralVAE
from .config import ModelConfig

PROBABILITY_FLOOR = 1e-6


class SpikeSlabEncoder(Encoder):
    """x (B, F) -> Posterior with log spike probability log gamma <= 0 (B, L)."""

    def __init__(self, input_dim: int, hidden_dim: int, code_dim: int) -> None:
        super().__init__(input_dim, hidden_dim, code_dim)
        self.log_spike = nn.Linear(hidden_dim, code_dim)

    def forward(self, x: torch.Tensor) -> Posterior:
        h = torch.tanh(self.hidden(x))
        return Posterior(self.mu(h), self.log_var(h), -torch.relu(-self.log_spike(h)))


def kl_bernoulli(p: torch.Tensor, q: torch.Tensor | float) -> torch.Tensor:
    """KL(Bernoulli(p) || Bernoulli(q)), elementwise (a number q filled in on p's device, not copied there, so that a
    CUDA graph may record it)."""
    p = p.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    q = (q if isinstance(q, torch.Tensor) else torch.full_like(p, q)).clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return p * (p.log() - q.log()) + (1 - p) * ((1 - p).log() - (1 - q).log())


def kl_spike_slab(posterior: Posterior, alpha: float) -> torch.Tensor:
    """KL(q || alpha N(0, 1) + (1 - alpha) delta) per frame, closed form (VSC eq. 6): (B, L) -> (B,)."""
    gamma = posterior.log_spike.exp()
    gaussian = 0.5 * (posterior.mu.pow(2) + posterior.log_var.exp() - posterior.log_var - 1.0)
    return (gamma * gaussian + kl_bernoulli(gamma, alpha)).sum(dim=-1)


class VSC(SpectralVAE):
    """Spectral VSC: 513-128-L tanh encoder with mean, log-variance and log-spike heads; the shared decoder."""

    NOISE_DRAWS = ("normal", "uniform")  # the slab's and the selector's

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.encoder = SpikeSlabEncoder(config.input_dim, config.hidden_dim, config.latent_dim)
        self.register_buffer("slab_weight", torch.tensor(self._slab_weight(0)))
        self.register_buffer("sharpness", torch.tensor(self._sharpness(0)), persistent=False)  # set every epoch
        if config.pseudo_inputs:
            bound = (6.0 / (config.pseudo_inputs + config.input_dim)) ** 0.5  # Xavier, as the original
            self.pseudo_inputs = nn.Parameter(torch.empty(config.pseudo_inputs, config.input_dim).uniform_(-bound, bound))
            self.selector = nn.Linear(config.input_dim, config.pseudo_inputs)

    def _slab_weight(self, epoch: int) -> float:
        start, end = self.config.slab_warmup_start, self.config.slab_warmup_end
        if epoch >= end:
            return 1.0
        return 0.0 if epoch < start else (epoch - start) / (end - start)

    def _sharpness(self, epoch: int) -> float:
        """Selector sharpness c of an epoch: constant, or grown linearly from a softer start."""
        c, start, epochs = (self.config.selector_sharpness, self.config.selector_sharpness_start,
                            self.config.selector_anneal_epochs)
        if not start or epoch >= epochs:
            return c
        return start + (c - start) * epoch / epochs

    def start_epoch(self, epoch: int) -> None:
        self.slab_weight.fill_(self._slab_weight(epoch))
        self.sharpness.fill_(self._sharpness(epoch))

    def comparable_epoch(self, epoch: int) -> bool:
        return self._slab_weight(epoch) == 1.0 and self._sharpness(epoch) == self.config.selector_sharpness

    def codes(self, power: torch.Tensor) -> torch.Tensor:
        """The selected, gated posterior mean: mu where the spike probability exceeds 1/2, exactly 0 elsewhere."""
        posterior = self.encode(power)
        return torch.where(posterior.log_spike.exp() > 0.5, posterior.mu, torch.zeros_like(posterior.mu))

    def forward(self, power: torch.Tensor, noise: Noise | None = None) -> ForwardResult:
        posterior = self.encode(power)
        noise = noise or Noise()
        eps, eta = noise.normal(posterior.mu), noise.uniform(posterior.mu)
        selector = torch.sigmoid(self.sharpness * (eta + posterior.log_spike.exp() - 1.0))
        lam = self.slab_weight
        slab = lam * posterior.mu + torch.exp(0.5 * lam * posterior.log_var) * eps
        z = selector * slab
        return ForwardResult(posterior, z, self.decode(z))

    def _prior_terms(self, posterior: Posterior, power: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame KL to the pseudo-input prior (B,) and the aggregate sparsity term (B,), as the authors' code.

        The KL is the weighted mean over pseudo-inputs i of sum_l [gamma KL(N(mu, s2) || N(mu_i, s2_i))
        + KL(Bern(gamma) || Bern(gamma_i))]. Both terms are linear in a few functions of the prior (log s2_i,
        1 / s2_i, mu_i / s2_i, mu_i^2 / s2_i, log gamma_i, log(1 - gamma_i)), so the mean over i is a (B, P) x (P, L)
        product for each instead of (B, P, L) tensors: the same numbers, about a third of the training step.
        """
        # The original divides the selector outputs sigmoid(a) by their L2 norm and then takes mean(w * x) / mean(w):
        # a weighted mean over the pseudo-inputs with weights sigmoid(a_i) / sum_j sigmoid(a_j). Computed here as
        # softmax(log sigmoid(a)), which is the same number but stays finite when every sigmoid underflows to 0
        # (raw power inputs reach 1e5, and 0 / 0 made training NaN).
        weights = torch.softmax(nn.functional.logsigmoid(self.selector(self.prepare_input(power))), dim=1)  # (B, P)
        prior = self.encoder(self.pseudo_inputs)  # pseudo-inputs live in the encoder's input space: (P, L)
        gamma_p = torch.sigmoid(self.config.pseudo_sharpness * (prior.log_spike.exp() - 0.5))
        q = gamma_p.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
        precision = torch.exp(-prior.log_var)
        prior_stats = torch.cat([prior.log_var, precision, prior.mu * precision, prior.mu.pow(2) * precision,
                                 q.log(), (1 - q).log()], dim=1)  # (P, 6L)
        log_var_p, precision_p, mu_precision_p, mu2_precision_p, log_q, log_not_q = (
            weights @ prior_stats).chunk(6, dim=1)  # each the weighted mean over pseudo-inputs: (B, L)
        mu, log_var = posterior.mu, posterior.log_var
        gaussian = 0.5 * (log_var_p - log_var + (log_var.exp() + mu.pow(2)) * precision_p
                          - 2 * mu * mu_precision_p + mu2_precision_p - 1.0)
        gamma = posterior.log_spike.exp().clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
        bernoulli = gamma * (gamma.log() - log_q) + (1 - gamma) * ((1 - gamma).log() - log_not_q)
        kl = (posterior.log_spike.exp() * gaussian + bernoulli).sum(dim=-1)
        mean_spike = (weights @ gamma_p).mean(dim=-1)  # (B,)
        aggregate = self.config.latent_dim * kl_bernoulli(mean_spike, self.config.alpha)
        return kl, aggregate

    def kl(self, posterior: Posterior, power: torch.Tensor) -> torch.Tensor:
        if not self.config.pseudo_inputs:
            return kl_spike_slab(posterior, self.config.alpha)
        kl, aggregate = self._prior_terms(posterior, power)
        return kl + aggregate

    def loss(self, power: torch.Tensor, result: ForwardResult, kl_weight: float = 1.0,
             mean_weight: float = 0.0) -> dict[str, torch.Tensor]:
        if mean_weight:
            raise ValueError("mean_weight is for the VAE and SDM-VAE (a VSC code is gated)")
        if not self.config.pseudo_inputs:
            return super().loss(power, result, kl_weight)
        recon = self.divergence(power, result.log_variance).mean()
        kl, aggregate = (term.mean() for term in self._prior_terms(result.posterior, power))
        return {"loss": recon + kl_weight * (kl + aggregate), "recon": recon, "kl": kl, "kl_aggregate": aggregate}

