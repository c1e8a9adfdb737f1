"""The shared encoder/decoder MLPs and the interface every spectral VAE offers."""

from __future__ import annotations

from typing import Iterable, NamedTuple

import torch
from torch import nn

from ..dsp.divergence import POWER_FLOOR, bark_density_weights, itakura_saito
from .descent import adam_descent
from .iterative import InferenceStep
from .config import ModelConfig


class Posterior(NamedTuple):
    """Posterior over the interpretable code, each (B, code_dim): Gaussian mean and log-variance, and for
    spike-and-slab models the log spike (slab) probability."""

    mu: torch.Tensor
    log_var: torch.Tensor
    log_spike: torch.Tensor | None = None


class ForwardResult(NamedTuple):
    """What the loss needs from one pass: posterior (B, K), sampled latent z (B, L), log sigma^2 (B, F)."""

    posterior: Posterior
    z: torch.Tensor
    log_variance: torch.Tensor


class Noise:
    """The random draws of the reparameterisation trick, from one generator.

    In a data-parallel run each of `world` processes holds rows rank, rank + world, ... of the global batch;
    drawing the global batch's noise and keeping those rows makes the run equal to a single-process one.
    """

    def __init__(self, generator: torch.Generator | None = None, rank: int = 0, world: int = 1) -> None:
        self.generator, self.rank, self.world = generator, rank, world

    def _draw(self, sample, like: torch.Tensor) -> torch.Tensor:
        shape = (like.shape[0] * self.world, *like.shape[1:])
        drawn = sample(shape, generator=self.generator, device=like.device, dtype=like.dtype)
        return drawn[self.rank :: self.world]

    def normal(self, like: torch.Tensor) -> torch.Tensor:
        """Standard normal draws shaped like `like` (B, K)."""
        return self._draw(torch.randn, like)

    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        """U(0, 1) draws shaped like `like` (B, K)."""
        return self._draw(torch.rand, like)

    def draws(self, kinds: tuple[str, ...], like: torch.Tensor) -> list[torch.Tensor]:
        """The draws a forward pass would ask for (a model's NOISE_DRAWS, in order), made now for a DrawnNoise."""
        return [getattr(self, kind)(like) for kind in kinds]


class DrawnNoise(Noise):
    """Draws made beforehand, handed out in the order a forward pass asks for them (what a batched computation over
    several models, which cannot draw inside, passes each model)."""

    def __init__(self, draws: list[torch.Tensor]) -> None:
        super().__init__()
        self.draws = list(draws)

    def normal(self, like: torch.Tensor) -> torch.Tensor:
        return self.draws.pop(0)

    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        return self.draws.pop(0)


THRESHOLD_START = 1e-3  # a soft threshold's first value: near 0 (the mean as without it), but not at abs's kink


class Encoder(nn.Module):
    """x (B, F) -> Posterior (B, K): one tanh hidden layer, then mean and log-variance heads; with linear_skip the
    mean also has a linear path from the input (so the encoder contains a linear projection such as PCA's); with
    soft_threshold the mean passes sign(m) max(|m| - t_k, 0) with a threshold t_k learned per code dimension, so that
    the code has exact zeros (the proximal step of an L1 penalty, as in learned sparse coding: Gregor and LeCun 2010).
    """

    def __init__(self, input_dim: int, hidden_dim: int, code_dim: int, linear_skip: bool = False,
                 soft_threshold: bool = False) -> None:
        super().__init__()
        self.hidden = nn.Linear(input_dim, hidden_dim)
        self.mu = nn.Linear(hidden_dim, code_dim)
        self.log_var = nn.Linear(hidden_dim, code_dim)
        self.skip = nn.Linear(input_dim, code_dim, bias=False) if linear_skip else None
        self.threshold = nn.Parameter(torch.full((code_dim,), THRESHOLD_START)) if soft_threshold else None

    def mean(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The posterior mean (B, K) from the input x (B, F) and the hidden layer h (B, H)."""
        mu = self.mu(h) if self.skip is None else self.mu(h) + self.skip(x)
        if self.threshold is None:
            return mu
        return torch.sign(mu) * torch.relu(mu.abs() - self.threshold.abs())

    def forward(self, x: torch.Tensor) -> Posterior:
        h = torch.tanh(self.hidden(x))
        return Posterior(self.mean(x, h), self.log_var(h))


class Decoder(nn.Module):
    """z (B, L) -> log sigma^2 (B, F): tanh hidden layers (one in the paper); with linear_skip plus a linear path from
    z (so the decoder contains a linear back-projection such as PCA's)."""

    def __init__(self, latent_dim: int, hidden_dim: int, output_dim: int, linear_skip: bool = False,
                 layers: int = 1) -> None:
        super().__init__()
        self.hidden = nn.Linear(latent_dim, hidden_dim)
        self.deeper = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim) for _ in range(layers - 1))
        self.out = nn.Linear(hidden_dim, output_dim)
        self.skip = nn.Linear(latent_dim, output_dim, bias=False) if linear_skip else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.hidden(z))
        for layer in self.deeper:
            h = torch.tanh(layer(h))
        out = self.out(h)
        return out if self.skip is None else out + self.skip(z)


class SpectralVAE(nn.Module):
    """Base of all models: power spectrogram frames in, per-bin variances out.

    Subclasses choose the code -> latent map (`to_latent`) and the KL term (`kl`).
    """

    NOISE_DRAWS = ("normal",)  # what forward draws from its Noise, in order, each shaped like the code (B, code_dim)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.input_dim, config.hidden_dim, config.code_dim, config.linear_skip,
                               config.soft_threshold)
        self.decoder = Decoder(config.latent_dim, config.decoder_width, config.input_dim, config.linear_skip,
                               config.decoder_layers)
        if config.standardise_input:
            self.register_buffer("input_mean", torch.zeros(config.input_dim))
            self.register_buffer("input_std", torch.ones(config.input_dim))
        self.inference_step = (InferenceStep(config.input_dim, config.code_dim, config.inference_hidden_dim)
                               if config.inference_steps else None)
        # a function of the config, not saved with the weights; None: every bin alike
        self.register_buffer("bin_weight", bark_density_weights(config.input_dim)
                             if config.reconstruction_weight == "bark" else None, persistent=False)

    def _transform(self, power: torch.Tensor) -> torch.Tensor:
        if self.config.input_transform == "log":
            return torch.log(power + POWER_FLOOR)
        return power

    def fit_input_standardisation(self, power_chunks: Iterable[torch.Tensor]) -> None:
        """Set the per-bin mean and std of the transformed input from training frames, given as chunks (n, F) so
        that a corpus larger than memory streams through (sums in float64)."""
        if not self.config.standardise_input:
            return
        count, total, squares = 0, 0.0, 0.0
        with torch.no_grad():
            for power in power_chunks:
                transformed = self._transform(power).double()
                count += len(transformed)
                total = total + transformed.sum(dim=0)
                squares = squares + transformed.pow(2).sum(dim=0)
            mean = total / count
            variance = (squares - count * mean.pow(2)) / max(count - 1, 1)  # unbiased, as torch.std
            self.input_mean.copy_(mean.float())
            self.input_std.copy_(variance.clamp_min(0).sqrt().float().clamp_min(1e-6))

    def prepare_input(self, power: torch.Tensor) -> torch.Tensor:
        """The encoder's view of the power spectrogram (B, F): as is or log-compressed, optionally standardised."""
        transformed = self._transform(power)
        if self.config.standardise_input:
            return (transformed - self.input_mean) / self.input_std
        return transformed

    def encode(self, power: torch.Tensor) -> Posterior:
        """q(code | x) for power frames (B, F)."""
        return self.encoder(self.prepare_input(power))

    def infer(self, power: torch.Tensor) -> Posterior:
        """q(code | x) as the model infers it: the encoder's posterior, its mean moved by config.inference_steps
        learned steps (the same InferenceStep each time) when the model has them."""
        posterior = self.encode(power)
        if self.inference_step is None:
            return posterior
        x, mu = self.prepare_input(power), posterior.mu
        for _ in range(self.config.inference_steps):
            mu = self.inference_step(x, mu, self.objective_gradient(power, Posterior(mu, posterior.log_var)))
        return posterior._replace(mu=mu)

    def objective_gradient(self, power: torch.Tensor, posterior: Posterior) -> torch.Tensor:
        """The gradient of each frame's refinement objective (mean_objective, KL weighted by refine_kl_weight) with
        respect to the posterior mean, as an input: no gradient flows back through it (B, K)."""
        mu = posterior.mu.detach().requires_grad_(True)
        with torch.enable_grad():
            objective = self.mean_objective(power, Posterior(mu, posterior.log_var.detach()),
                                            self.config.refine_kl_weight)
            (gradient,) = torch.autograd.grad(objective.sum(), mu)
        return gradient

    def to_latent(self, code: torch.Tensor) -> torch.Tensor:
        """Map a code (B, K) to the decoder's latent z (B, L)."""
        return code

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """log sigma^2 (B, F) of p(s | z)."""
        return self.decoder(z)

    def codes(self, power: torch.Tensor) -> torch.Tensor:
        """Posterior mean of the interpretable code (B, K): w for SDM-VAE, z for VAE; after the learned inference
        steps where the model has them, refined per frame when the config asks for it (refine_steps)."""
        posterior = self.infer(power)
        return self.refine(power, posterior) if self.config.refine_steps else posterior.mu

    def refine(self, power: torch.Tensor, posterior: Posterior) -> torch.Tensor:
        """The posterior mean after config.refine_steps Adam steps on each frame's negative ELBO with the mean
        decoded (IS divergence + KL weighted by config.refine_kl_weight, the encoder's variances kept): a
        semi-amortised encoder that closes part of the gap between the encoder's guess and the best code for the
        frame. Frames are independent (the loss is a sum over frames and Adam acts per coordinate), so the result does
        not depend on the batch. (B, K)."""
        log_var = posterior.log_var.detach()

        def negative_elbo(mu: torch.Tensor) -> torch.Tensor:
            return self.mean_objective(power, Posterior(mu, log_var), self.config.refine_kl_weight).sum()

        return adam_descent(posterior.mu, negative_elbo, self.config.refine_steps, self.config.refine_lr)

    def mean_objective(self, power: torch.Tensor, posterior: Posterior, kl_weight: float) -> torch.Tensor:
        """Each frame's negative ELBO with the posterior mean decoded: the IS divergence of the decoded mean plus
        kl_weight x the KL (B,). What the refinement minimises frame by frame, and what an encoder trained with the
        "refinement" objective minimises on average."""
        fit = self.divergence(power, self.decode(self.to_latent(posterior.mu)))
        return fit + kl_weight * self.kl(posterior, power)

    def divergence(self, power: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
        """The reconstruction term per frame (B,): the IS divergence, weighted per bin as the config says."""
        return itakura_saito(power, log_variance, self.bin_weight)

    def reconstruct(self, power: torch.Tensor) -> torch.Tensor:
        """Variances sigma^2 (B, F) decoded from the posterior mean: the resynthesis path."""
        return self.decode(self.to_latent(self.codes(power))).exp()

    def forward(self, power: torch.Tensor, noise: Noise | None = None) -> ForwardResult:
        """One reparameterised sample through the model."""
        posterior = self.infer(power)
        code = posterior.mu + torch.exp(0.5 * posterior.log_var) * (noise or Noise()).normal(posterior.mu)
        z = self.to_latent(code)
        return ForwardResult(posterior, z, self.decode(z))

    def kl(self, posterior: Posterior, power: torch.Tensor) -> torch.Tensor:
        """KL(q || prior) per frame (B,); power (B, F) is there for priors that depend on the input."""
        raise NotImplementedError

    def loss(self, power: torch.Tensor, result: ForwardResult, kl_weight: float = 1.0,
             mean_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """Negative ELBO per frame (mean over the batch) with its named terms. kl_weight > 1 weighs the KL more (a
        beta-VAE's objective: for the SDM-VAE, whose KL is a sparsity penalty, sparser codes); mean_weight > 0 adds the
        IS divergence of the decoded posterior mean (what resynthesis decodes) with that weight (`mean_fit`)."""
        recon = self.divergence(power, result.log_variance).mean()
        kl = self.kl(result.posterior, power).mean()
        terms = {"loss": recon + kl_weight * kl, "recon": recon, "kl": kl}
        if mean_weight:
            terms["mean_fit"] = self.divergence(power, self.decode(self.to_latent(result.posterior.mu))).mean()
            terms["loss"] = terms["loss"] + mean_weight * terms["mean_fit"]
        return terms

    def after_step(self) -> None:
        """Hook run after each optimiser step (a learnable dictionary renormalises here)."""
        self.constrain(dict(self.named_parameters()))

    def constrain(self, parameters: dict[str, torch.Tensor]) -> None:
        """Project parameters (this model's, or several models' stacked along a first axis) back onto their
        constraints, in place."""

    def start_epoch(self, epoch: int) -> None:
        """Hook run before each epoch (0-based): schedules such as VSC's warm-up live here."""

    def comparable_epoch(self, epoch: int) -> bool:
        """Whether the validation loss of this epoch may be compared for early stopping (not during warm-up)."""
        return True
