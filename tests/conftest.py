"""Shared fixtures and helpers: real speech clips (LibriSpeech test-other and Speech Commands, CC BY 4.0), a tiny
model, and the command-line runner with its checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
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

    from sdmresynth.dsp.stft import StftConfig
    from sdmresynth.models import ModelConfig
    from sdmresynth.training.config import TrainConfig
    from sdmresynth.training.features import file_frames
    from sdmresynth.training.loop import train_model

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    frames = file_frames(SPEECH, StftConfig())
    val = file_frames(COMMAND, StftConfig())
    config = ModelConfig(latent_dim=8, atoms=16, hidden_dim=32)
    train_model(config, TrainConfig(max_epochs=2, lr=1e-3), frames, val, out, torch.device("cpu"))
    return out



def _broken_files(folder):
    """Files that are not readable audio, each a different way (and one whole file first)."""
    speech, rate = sf.read(SPEECH)
    sf.write(folder / "full.wav", speech, rate)
    sf.write(folder / "full.flac", speech, rate)
    wav, flac = (folder / "full.wav").read_bytes(), (folder / "full.flac").read_bytes()
    files = {
        "empty.wav": b"",
        "header-only.wav": wav[:44],
        "header-only.flac": flac[:100],
        "truncated.flac": flac[: len(flac) // 2],
        "text.wav": b"hello, this is not audio\n",
        "image.wav": b"\x89PNG\r\n\x1a\n" + bytes(200),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    sf.write(folder / "zero-length.wav", np.zeros(0), 16000)
    sf.write(folder / "nan.wav", np.array([0.0, np.nan, 0.1]), 16000, subtype="FLOAT")
    sf.write(folder / "inf.wav", np.array([0.0, np.inf, 0.1]), 16000, subtype="DOUBLE")
    (folder / "full.wav").unlink()
    (folder / "full.flac").unlink()
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Broken audio files (see _broken_files), made once per module."""
    return _broken_files(tmp_path_factory.mktemp("broken"))


@pytest.fixture(scope="module")
def loaded(tiny_model):
    """The tiny model, loaded on the CPU."""
    import sdmresynth.api as sdm

    return sdm.load_model(str(tiny_model), device="cpu")


def run(*args):
    """Run the command line in this process: the result's exit_code, output and exception."""
    from sdmresynth.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def folder_of(folder, clips):
    """A folder holding copies of clips ({name: source}), for commands that take --data."""
    folder.mkdir()
    for name, source in clips.items():
        shutil.copy(source, folder / name)
    return folder


def assert_clean_failure(result, *needles):
    """A non-zero exit with one line of output holding each needle, and no traceback."""
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.output.strip().count("\n") == 0, result.output
    for needle in needles:
        assert needle in result.output, result.output


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-30)))


def snapshot(folder):
    """The files of a folder and their bytes."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
