import numpy as np
import pytest
import torch

from sdmresynth.models import ModelConfig, Noise, VSC, build_model
from sdmresynth.models.base import Posterior
from sdmresynth.models.losses import kl_standard_normal
from sdmresynth.models.vsc import kl_spike_slab


def test_spike_slab_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([0.8, -0.3, 1.5])
    log_var = torch.tensor([-1.0, 0.2, -0.5])
    gamma = torch.tensor([0.9, 0.3, 0.6])
    alpha = 0.2
    closed = kl_spike_slab(Posterior(mu[None], log_var[None], gamma.log()[None]), alpha).item()
    n = 400_000
    slab_on = torch.rand(n, 3) < gamma
    z = mu + (0.5 * log_var).exp() * torch.randn(n, 3)
    slab_q = torch.distributions.Normal(mu, (0.5 * log_var).exp()).log_prob(z) + gamma.log()
    slab_p = torch.distributions.Normal(0.0, 1.0).log_prob(z) + np.log(alpha)
    log_ratio = torch.where(slab_on, slab_q - slab_p, (1 - gamma).log() - np.log(1 - alpha))
    assert closed == pytest.approx(log_ratio.sum(dim=1).mean().item(), abs=0.02)


def test_alpha_towards_one_with_slab_always_on_is_a_vae():
    mu, log_var = torch.randn(5, 8), torch.randn(5, 8)
    always_on = Posterior(mu, log_var, torch.zeros(5, 8))
    torch.testing.assert_close(kl_spike_slab(always_on, 1 - 1e-6), kl_standard_normal(mu, log_var), atol=1e-3, rtol=0)
    model = build_model(ModelConfig(model_type="vsc", latent_dim=8, pseudo_inputs=0, slab_warmup_start=0,
                                    slab_warmup_end=0, selector_sharpness=1e4))
    torch.nn.init.constant_(model.encoder.log_spike.bias, 5.0)  # gamma = 1 everywhere
    torch.nn.init.zeros_(model.encoder.log_spike.weight)
    power = torch.rand(64, 513)
    generator = torch.Generator().manual_seed(3)
    z = model(power, Noise(generator)).z
    generator = torch.Generator().manual_seed(3)
    posterior = model.encode(power)
    eps = torch.randn(posterior.mu.shape, generator=generator)
    slab = posterior.mu + (0.5 * posterior.log_var).exp() * eps
    assert (z - slab).abs().max() < 1e-3 * slab.abs().max() + 1e-3


def test_codes_are_exactly_zero_where_the_selector_is_off():
    torch.manual_seed(1)
    model = build_model(ModelConfig(model_type="vsc", latent_dim=16))
    power = torch.rand(32, 513) * 10
    codes = model.codes(power)
    gamma = model.encode(power).log_spike.exp()
    assert torch.all(codes[gamma <= 0.5] == 0)
    torch.testing.assert_close(codes[gamma > 0.5], model.encode(power).mu[gamma > 0.5])
    assert (gamma <= 0.5).any() and (gamma > 0.5).any()


def test_pseudo_input_prior_trains_every_part():
    model = build_model(ModelConfig(model_type="vsc", latent_dim=8, pseudo_inputs=4, alpha=0.1))
    assert isinstance(model, VSC)
    model.start_epoch(100)
    power = torch.rand(16, 513)
    terms = model.loss(power, model(power))
    assert set(terms) == {"loss", "recon", "kl", "kl_aggregate"} and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    for name in ("pseudo_inputs", "selector.weight", "encoder.log_spike.weight", "decoder.out.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_slab_warmup_schedule_and_comparable_epochs():
    model = build_model(ModelConfig(model_type="vsc", slab_warmup_start=2, slab_warmup_end=6))
    weights = []
    for epoch in range(8):
        model.start_epoch(epoch)
        weights.append(model.slab_weight.item())
    assert weights == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert [model.comparable_epoch(e) for e in (0, 5, 6)] == [False, False, True]


def test_lower_alpha_penalises_active_spikes_more():
    posterior = Posterior(torch.zeros(1, 4), torch.zeros(1, 4), torch.full((1, 4), np.log(0.9)))
    assert kl_spike_slab(posterior, 0.01) > kl_spike_slab(posterior, 0.5)


def test_pseudo_input_weights_stay_finite_when_the_selector_saturates():
    model = build_model(ModelConfig(model_type="vsc", latent_dim=8, pseudo_inputs=4))
    torch.nn.init.constant_(model.selector.weight, -1.0)  # every sigmoid underflows to exactly 0 on loud frames
    power = torch.full((3, 513), 1e4)
    assert torch.sigmoid(model.selector(power)).max() == 0
    terms = model.loss(power, model(power))
    assert torch.isfinite(terms["loss"]) and torch.isfinite(terms["kl_aggregate"])


def test_pseudo_input_kl_equals_the_mean_over_pseudo_inputs_written_out():
    """The factorised KL (small matrix products) against the direct (B, P, L) weighted mean of the authors' code."""
    from sdmresynth.models.vsc import kl_bernoulli

    def kl_gaussians(mu, log_var, mu_p, log_var_p):
        return 0.5 * (log_var_p - log_var + (log_var.exp() + (mu - mu_p).pow(2)) / log_var_p.exp() - 1.0)

    torch.manual_seed(0)
    model = build_model(ModelConfig(model_type="vsc", latent_dim=8, pseudo_inputs=5, alpha=0.2))
    power = torch.rand(16, 513) ** 4 * 50
    posterior = model.encode(power)
    kl, aggregate = model._prior_terms(posterior, power)

    weights = torch.softmax(torch.nn.functional.logsigmoid(model.selector(model.prepare_input(power))), dim=1)
    prior = model.encoder(model.pseudo_inputs)
    gamma_p = torch.sigmoid(10.0 * (prior.log_spike.exp() - 0.5))
    gamma = posterior.log_spike.exp()[:, None, :]
    per_input = gamma * kl_gaussians(posterior.mu[:, None], posterior.log_var[:, None], prior.mu[None],
                                     prior.log_var[None]) + kl_bernoulli(gamma, gamma_p[None])
    expected = (weights[:, :, None] * per_input).sum(dim=1).sum(dim=-1)
    torch.testing.assert_close(kl, expected, rtol=1e-4, atol=1e-4)
    mean_spike = (weights[:, :, None] * gamma_p[None]).sum(dim=1).mean(dim=-1)
    torch.testing.assert_close(aggregate, 8 * kl_bernoulli(mean_spike, 0.2))
