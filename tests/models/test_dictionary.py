import numpy as np
import pytest
import torch

from sdmresynth.models.dictionary import dct_dictionary, identity_dictionary, make_dictionary, normalise_columns


@pytest.mark.parametrize("latent, atoms", [(16, 16), (16, 64), (64, 64), (64, 256)])
def test_dct_columns_have_unit_norm_and_zero_mean(latent, atoms):
    d = dct_dictionary(latent, atoms)
    assert d.shape == (latent, atoms)
    torch.testing.assert_close(d.norm(dim=0), torch.ones(atoms))
    torch.testing.assert_close(d[:, 1:].mean(dim=0), torch.zeros(atoms - 1), atol=1e-6, rtol=0)


def test_dct_column_zero_is_constant_and_columns_follow_the_formula():
    latent, atoms = 16, 64
    d = dct_dictionary(latent, atoms).double()
    torch.testing.assert_close(d[:, 0], torch.full((latent,), 1 / np.sqrt(latent), dtype=torch.float64))
    k = 5
    column = torch.cos(np.pi * k * torch.arange(latent, dtype=torch.float64) / atoms)
    column -= column.mean()
    torch.testing.assert_close(d[:, k], column / column.norm(), atol=1e-6, rtol=0)


def test_complete_dct_is_nearly_orthogonal():
    d = dct_dictionary(64, 64)
    gram = d.T @ d
    assert (gram - torch.eye(64)).abs().max() < 0.05


def test_identity_and_errors():
    torch.testing.assert_close(identity_dictionary(8), torch.eye(8))
    with pytest.raises(ValueError):
        make_dictionary("identity", 8, 16)
    with pytest.raises(ValueError):
        make_dictionary("wavelet", 8, 8)


def test_normalise_columns_in_place():
    d = torch.randn(8, 20) * 3
    normalise_columns(d)
    torch.testing.assert_close(d.norm(dim=0), torch.ones(20))
