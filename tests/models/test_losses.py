import torch

from sdmresynth.dsp.divergence import itakura_saito
from sdmresynth.models.losses import kl_sdm, kl_standard_normal, sdm_gamma


def test_itakura_saito_is_zero_at_the_data_and_positive_elsewhere():
    power = torch.rand(4, 513) + 0.1
    assert itakura_saito(power, power.log()).abs().max() < 1e-4
    assert (itakura_saito(power, power.log() + 0.3) > 0).all()


def test_kl_standard_normal_matches_monte_carlo():
    torch.manual_seed(0)
    mu, log_var = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    z = q.sample((200000,))
    estimate = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean()
    assert abs(kl_standard_normal(mu, log_var).item() - estimate.item()) < 0.01


def test_sdm_kl_with_optimal_gamma_equals_its_closed_form():
    torch.manual_seed(1)
    mu, log_var = torch.randn(32, 16), torch.randn(32, 16)
    closed = 0.5 * torch.log1p(mu**2 / log_var.exp()).sum(-1)
    torch.testing.assert_close(kl_sdm(mu, log_var, sdm_gamma(mu, log_var)), closed)


def test_sdm_kl_gradient_with_gamma_fixed_equals_the_closed_form_gradient():
    """Envelope theorem: gamma is optimal, so holding it fixed does not change the gradient."""
    torch.manual_seed(2)
    mu = torch.randn(8, 16, dtype=torch.float64, requires_grad=True)
    log_var = torch.randn(8, 16, dtype=torch.float64, requires_grad=True)
    kl_sdm(mu, log_var, sdm_gamma(mu, log_var)).sum().backward()
    ours = mu.grad.clone(), log_var.grad.clone()
    mu.grad = log_var.grad = None
    (0.5 * torch.log1p(mu**2 / log_var.exp())).sum().backward()
    torch.testing.assert_close(ours[0], mu.grad)
    torch.testing.assert_close(ours[1], log_var.grad)


def test_gamma_carries_no_gradient():
    mu = torch.randn(3, 4, requires_grad=True)
    assert not sdm_gamma(mu, torch.zeros(3, 4)).requires_grad
