"""PCA and IS-NMF baselines: exact where they must be, and the IS-NMF updates never increase the divergence."""

import numpy as np

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.evaluation.baselines import fit_pca
from sdmresynth.training.features import file_frames

from ..conftest import SPEECH


def test_pca_with_every_component_is_exact_and_fewer_components_cost_fidelity():
    power = file_frames(SPEECH, StftConfig())
    full = fit_pca(power, 513)
    np.testing.assert_allclose(full.decode(full.encode(power)), power + 1e-10, rtol=1e-5)
    errors = [np.mean((np.log(pca.decode(pca.encode(power))) - np.log(power + 1e-10)) ** 2)
              for pca in (fit_pca(power, 4), fit_pca(power, 32))]
    assert errors[0] > errors[1] > 0


def test_pca_components_are_orthonormal_and_streaming_equals_one_pass():
    power = file_frames(SPEECH, StftConfig())
    pca, streamed = fit_pca(power, 16), fit_pca(power, 16, chunk=37)
    np.testing.assert_allclose(pca.components.T @ pca.components, np.eye(16), atol=1e-8)
    np.testing.assert_allclose(np.abs(streamed.components), np.abs(pca.components), atol=1e-6)
