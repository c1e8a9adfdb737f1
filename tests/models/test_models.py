import dataclasses

import pytest
import torch

from sdmresynth.dsp.divergence import itakura_saito
from sdmresynth.models import SDMVAE, VAE, ModelConfig, build_model


@pytest.mark.parametrize("config", [
    ModelConfig(model_type="vae", latent_dim=16, atoms=16),
    ModelConfig(model_type="sdm-vae", latent_dim=16, dictionary="identity", atoms=16),
    ModelConfig(model_type="sdm-vae", latent_dim=16, dictionary="dct", atoms=64),
    ModelConfig(model_type="sdm-vae", latent_dim=16, dictionary="learned", atoms=32, input_transform="log"),
    ModelConfig(model_type="sdm-vae", latent_dim=16, atoms=64, hidden_dim=32, linear_skip=True, refine_steps=3),
    ModelConfig(model_type="sdm-vae", latent_dim=16, atoms=64, hidden_dim=32, decoder_hidden_dim=48, decoder_layers=3),
    ModelConfig(model_type="vae", latent_dim=16, hidden_dim=32, decoder_hidden_dim=48, decoder_layers=2),
    ModelConfig(model_type="sdm-vae", latent_dim=16, atoms=64, hidden_dim=32, reconstruction_weight="bark"),
    ModelConfig(model_type="sdm-vae", latent_dim=16, atoms=64, hidden_dim=32, inference_steps=2,
                inference_hidden_dim=24),
])
def test_shapes_and_loss_terms(config):
    model = build_model(config)
    power = torch.rand(5, 513)
    result = model(power)
    assert result.posterior.mu.shape == (5, config.code_dim)
    assert result.z.shape == (5, config.latent_dim)
    assert result.log_variance.shape == (5, 513)
    assert model.codes(power).shape == (5, config.code_dim)
    assert model.reconstruct(power).shape == (5, 513)
    terms = model.loss(power, result)
    assert set(terms) == {"loss", "recon", "kl"}
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["kl"])


def test_model_classes():
    assert isinstance(build_model(ModelConfig(model_type="vae")), VAE)
    assert isinstance(build_model(ModelConfig()), SDMVAE)


def test_sdm_latent_is_the_dictionary_times_the_code():
    model = build_model(ModelConfig(latent_dim=16, atoms=64))
    code = torch.randn(3, 64)
    torch.testing.assert_close(model.to_latent(code), code @ model.dictionary.T)


def test_one_frame_at_a_time_equals_batched():
    model = build_model(ModelConfig(latent_dim=16, atoms=16)).eval()
    power = torch.rand(6, 513) * 100
    batched = model.reconstruct(power)
    single = torch.cat([model.reconstruct(power[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(batched, single)


def test_learned_dictionary_keeps_unit_columns_after_a_step():
    model = build_model(ModelConfig(latent_dim=8, atoms=16, dictionary="learned"))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    power = torch.rand(4, 513)
    model.loss(power, model(power))["loss"].backward()
    optimizer.step()
    model.after_step()
    torch.testing.assert_close(model.dictionary.norm(dim=0), torch.ones(16))


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError):
        ModelConfig(model_type="gan")
    with pytest.raises(ValueError):
        ModelConfig(dictionary="identity", latent_dim=16, atoms=32)
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"latent_dim": 4, "colour": "blue"})


def test_relevant_settings_follow_the_model_type():
    assert "alpha" not in ModelConfig(model_type="sdm-vae").relevant_settings()
    assert "atoms" not in ModelConfig(model_type="vae").relevant_settings()
    vsc = ModelConfig(model_type="vsc").relevant_settings()
    assert "alpha" in vsc and "dictionary" not in vsc


def test_linear_skip_makes_encoder_and_decoder_contain_a_linear_map():
    model = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=4, linear_skip=True))
    with torch.no_grad():
        for layer in (model.encoder.mu, model.decoder.out):
            layer.weight.zero_()
            layer.bias.zero_()
    x, z = torch.randn(3, 513), torch.randn(3, 8)
    torch.testing.assert_close(model.encoder(x).mu, x @ model.encoder.skip.weight.T)
    torch.testing.assert_close(model.decoder(z), z @ model.decoder.skip.weight.T)
    assert "encoder.skip.weight" not in build_model(ModelConfig()).state_dict()  # older checkpoints still load


def test_decoder_width_and_depth():
    """decoder_hidden_dim and decoder_layers shape the decoder alone: each extra layer is one more tanh(W h + b)
    between the first layer and the output; the default is the paper's one layer as wide as the encoder's."""
    model = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=4, decoder_hidden_dim=6, decoder_layers=3))
    assert model.encoder.hidden.out_features == 4 and model.decoder.hidden.out_features == 6
    assert [layer.weight.shape for layer in model.decoder.deeper] == [(6, 6), (6, 6)]
    z = torch.randn(3, 8)
    h = torch.tanh(model.decoder.hidden(z))
    for layer in model.decoder.deeper:
        h = torch.tanh(layer(h))
    torch.testing.assert_close(model.decoder(z), model.decoder.out(h))
    plain = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=4))
    assert plain.decoder.hidden.out_features == 4 and len(plain.decoder.deeper) == 0
    assert not any(".deeper." in key for key in plain.state_dict())  # older checkpoints still load
    for setting in ({"decoder_layers": 0}, {"decoder_hidden_dim": -1}):
        with pytest.raises(ValueError):
            ModelConfig(**setting)


def test_bark_weighted_reconstruction():
    """reconstruction_weight "bark" weighs each bin's IS term by the Bark scale's density (mean 1 over the bins,
    falling with frequency): the loss's recon term is that weighted sum, and the weights are not saved."""
    from sdmresynth.dsp.divergence import bark_density_weights

    weights = bark_density_weights(513)
    assert abs(weights.mean().item() - 1) < 1e-5
    assert weights[32] > 2 * weights[128] > 4 * weights[512]  # 500 Hz, 2 kHz, 8 kHz
    config = ModelConfig(latent_dim=8, atoms=16, hidden_dim=4)
    plain, weighted = build_model(config), build_model(dataclasses.replace(config, reconstruction_weight="bark"))
    weighted.load_state_dict(plain.state_dict())  # the same weights; the bin weights are no state
    power, log_variance = torch.rand(3, 513) + 0.1, torch.randn(3, 513)
    ratio = power / log_variance.exp()
    terms = ratio - ratio.log() - 1
    torch.testing.assert_close(plain.divergence(power, log_variance), terms.sum(-1))
    torch.testing.assert_close(weighted.divergence(power, log_variance), (terms * weights).sum(-1))
    with pytest.raises(ValueError, match="reconstruction weight"):
        ModelConfig(reconstruction_weight="mel")


def test_code_refinement_lowers_each_frames_negative_elbo_and_is_batch_independent():
    from sdmresynth.training.features import file_frames
    from sdmresynth.dsp.divergence import itakura_saito
    from sdmresynth.models.base import Posterior
    from sdmresynth.dsp.stft import StftConfig

    from ..conftest import SPEECH

    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, input_transform="log", refine_steps=20))
    power = torch.from_numpy(file_frames(SPEECH, StftConfig()))
    posterior = model.encode(power)

    def negative_elbo(mu):
        return itakura_saito(power, model.decode(model.to_latent(mu))) + model.kl(Posterior(mu, posterior.log_var), power)

    refined = model.codes(power)
    with torch.no_grad():
        before, after = negative_elbo(posterior.mu), negative_elbo(refined)
    assert (after < before).float().mean() > 0.95 and after.mean() < before.mean()
    torch.testing.assert_close(torch.cat([model.codes(power[:50]), model.codes(power[50:])]), refined)
    assert all(p.grad is None for p in model.parameters())  # encoding leaves the model's gradients alone


def test_a_heavier_kl_in_the_refinement_gives_sparser_codes():
    """The SDM-VAE's KL at its optimal prior variances is a sparsity penalty: weighting it more in the refinement
    (refine_kl_weight) moves each frame's code to a smaller KL and a higher Hoyer sparsity."""
    import dataclasses

    from sdmresynth.training.features import file_frames
    from sdmresynth.dsp.metrics import hoyer
    from sdmresynth.models.base import Posterior
    from sdmresynth.dsp.stft import StftConfig

    from ..conftest import SPEECH

    torch.manual_seed(0)
    config = ModelConfig(latent_dim=8, atoms=32, hidden_dim=16, input_transform="log", refine_steps=30)
    plain = build_model(config)
    heavy = build_model(dataclasses.replace(config, refine_kl_weight=4.0))
    heavy.load_state_dict(plain.state_dict())
    power = torch.from_numpy(file_frames(SPEECH, StftConfig()))
    log_var = plain.encode(power).log_var.detach()
    codes = {name: model.codes(power) for name, model in (("plain", plain), ("heavy", heavy))}
    with torch.no_grad():
        kl = {name: plain.kl(Posterior(c, log_var), power).mean() for name, c in codes.items()}
    assert kl["heavy"] < kl["plain"]
    assert hoyer(codes["heavy"].numpy()).mean() > hoyer(codes["plain"].numpy()).mean()
    with pytest.raises(ValueError, match="refine_kl_weight"):
        ModelConfig(refine_kl_weight=0.0)


def test_refinement_and_skips_are_refused_for_vsc():
    for setting in ({"refine_steps": 5}, {"linear_skip": True}):
        with pytest.raises(ValueError):
            ModelConfig(model_type="vsc", **setting)


def test_refinement_matches_torch_adam_exactly():
    from sdmresynth.dsp.divergence import itakura_saito
    from sdmresynth.models.base import Posterior

    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, input_transform="log", refine_steps=7))
    power = torch.rand(20, 513) + 0.01
    posterior = model.encode(power)
    mu = posterior.mu.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([mu], lr=model.config.refine_lr)
    for _ in range(7):
        loss = (itakura_saito(power, model.decode(model.to_latent(mu)))
                + model.kl(Posterior(mu, posterior.log_var.detach()), power)).sum()
        (mu.grad,) = torch.autograd.grad(loss, mu)
        optimizer.step()
    torch.testing.assert_close(model.codes(power), mu.detach(), rtol=0, atol=0)


def test_the_loss_weighs_its_terms_as_asked():
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=16))
    power = torch.rand(6, 513) + 0.1
    result = model(power)
    plain = model.loss(power, result)
    weighted = model.loss(power, result, kl_weight=1.5, mean_weight=0.5)
    torch.testing.assert_close(weighted["loss"], plain["recon"] + 1.5 * plain["kl"] + 0.5 * weighted["mean_fit"])
    mean = model.decode(model.to_latent(result.posterior.mu))
    torch.testing.assert_close(weighted["mean_fit"], itakura_saito(power, mean).mean())
    assert "mean_fit" not in plain


def test_a_soft_threshold_gives_exact_zeros_and_starts_near_the_plain_mean():
    torch.manual_seed(0)
    plain = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=16))
    shrunk = build_model(ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, soft_threshold=True))
    missing, unexpected = shrunk.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["encoder.threshold"] and not unexpected
    power = torch.rand(6, 513) + 0.1
    with torch.no_grad():
        before, after = plain.codes(power), shrunk.codes(power)
        assert (after - before).abs().max() <= 1e-3 + 1e-6  # the threshold starts at 1e-3
        shrunk.encoder.threshold.fill_(float(before.abs().median()))
        codes = shrunk.codes(power)
    assert (codes == 0).float().mean() >= 0.4
    kept = codes != 0
    torch.testing.assert_close(codes[kept].abs(), before[kept].abs() - float(before.abs().median()))


def test_untrained_inference_steps_keep_the_encoders_mean_and_trained_ones_read_the_objectives_gradient():
    """A learned step starts as the identity (the encoder's mean unchanged); once it has weights its update depends on
    the gradient of the frame's objective, which it reads as an input (no gradient flows back through it, and
    encoding leaves the model's gradients alone)."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, input_transform="log", inference_steps=2,
                         refine_kl_weight=1.5)
    model = build_model(config)
    power = torch.rand(20, 513) + 0.1
    torch.testing.assert_close(model.codes(power), model.encode(power).mu)
    for weight in model.inference_step.parameters():
        torch.nn.init.normal_(weight, std=0.05)
    moved = model.infer(power).mu
    assert not torch.allclose(moved, model.encode(power).mu)
    gradient = model.objective_gradient(power, model.encode(power))
    from sdmresynth.models.base import Posterior

    mu = model.encode(power).mu.detach().requires_grad_(True)
    objective = model.mean_objective(power, Posterior(mu, model.encode(power).log_var.detach()), 1.5).sum()
    torch.testing.assert_close(gradient, torch.autograd.grad(objective, mu)[0])
    torch.testing.assert_close(torch.cat([model.codes(power[:7]), model.codes(power[7:])]), model.codes(power))
    assert all(p.grad is None for p in model.parameters())
    for wrong in (dict(inference_steps=-1), dict(inference_hidden_dim=0), dict(model_type="vsc", inference_steps=1)):
        with pytest.raises(ValueError, match="inference"):
            ModelConfig(**wrong)
