"""Shared fixtures: real speech clips (LibriSpeech test-other and Speech Commands, CC BY 4.0) and a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

DATA = Path(__file__).parent / "data"
SPEECH = DATA / "librispeech-3331-159605-0004.wav"
COMMAND = DATA / "speech-commands-down-022cd682.wav"


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    samples, rate = sf.read(SPEECH)
    assert rate == 16000
    return samples


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small SDM-VAE trained for two epochs on the test clips (fast; quality is not the point)."""
    import torch

    from sdmresynth.data import file_frames
    from sdmresynth.models import ModelConfig
    from sdmresynth.stft import StftConfig
    from sdmresynth.train import TrainConfig, train_model

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    frames = file_frames(SPEECH, StftConfig())
    val = file_frames(COMMAND, StftConfig())
    config = ModelConfig(latent_dim=8, atoms=16, hidden_dim=32)
    train_model(config, TrainConfig(max_epochs=2, lr=1e-3), frames, val, out, torch.device("cpu"))
    return out
