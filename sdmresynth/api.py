"""The Python API the CLI is built on: load a model, analyse, encode, decode and resynthesise.

    >>> import sdmresynth.api as sdm
    >>> model = sdm.load_model("sdm-vae")
    >>> audio = sdm.read_audio("examples/speech.wav")
    >>> out = sdm.resynthesise(model, audio.samples)          # same length, same level
    >>> codes = sdm.encode(model, audio.samples).codes        # (frames, K)
    >>> edited = sdm.keep_top(codes, 8)                       # the 8 strongest atoms of each frame
    >>> sound = sdm.decode_codes(model, edited, len(audio.samples), phase_from=audio.samples)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .audio import Audio, peak_level, read_audio, resample, write_audio
from .checkpoint import file_sha256, load_checkpoint, model_from_checkpoint
from .codes import keep_top, mute_atoms
from .device import resolve_device
from .enhance import EnhanceConfig, enhance_spectrogram
from .metrics import hoyer
from .models import SpectralVAE
from .pretrained import resolve_model
from .phase import GRIFFIN_LIM_ITERATIONS, griffin_lim
from .stft import OverlapAdd, StftConfig, frame_count, power_spectrogram, stft, with_phase_of

__all__ = ["EnhanceConfig", "Encoding", "LoadedModel", "decode", "decode_codes", "encode", "enhance", "enhance_file",
           "keep_top", "load_model", "mute_atoms", "read_audio", "resynthesise", "resynthesise_file",
           "resynthesise_with_codes", "write_audio"]

STFT = StftConfig()
BLOCK_FRAMES = 2048  # about 33 s of audio per block: memory stays bounded however long the file


@dataclass
class LoadedModel:
    """A model ready to run, with its name, file and model-card metadata."""

    model: SpectralVAE
    name: str
    path: Path
    metadata: dict[str, Any]
    device: torch.device
    sha256: str  # of the checkpoint file: codes files name the exact model that made them


@dataclass
class Encoding:
    """Posterior means per frame: codes (T, K) (w for SDM-VAE, z for VAE) and latents z (T, L)."""

    codes: np.ndarray
    z: np.ndarray

    @property
    def hoyer(self) -> np.ndarray:
        """Hoyer sparsity per frame (T,)."""
        return hoyer(self.codes)


def load_model(name_or_path: str = "sdm-vae", device: str = "auto") -> LoadedModel:
    """Load a shipped model by name or alias, or any checkpoint file, onto device (auto|cpu|cuda)."""
    name, path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    target = resolve_device(device)
    model = model_from_checkpoint(checkpoint, path).to(target)
    return LoadedModel(model, name, path, checkpoint.metadata, target, file_sha256(path))


def _mono(samples: np.ndarray, name: str = "samples") -> np.ndarray:
    """samples as a 1-D array of finite numbers; a ValueError that says what is wrong otherwise."""
    array = np.asarray(samples)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
        hint = f" (mix the channels first: {name}.mean(axis=1))" if array.ndim == 2 else ""
        raise ValueError(f"{name}: expected a mono signal of numbers, shape (n,), got {array.dtype} {array.shape}{hint}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _blocks(samples: np.ndarray, block_frames: int):
    """(spec, power) of the peak-normalised signal, block_frames frames at a time: (T, F) each."""
    scale = peak_level(samples)
    n_frames = frame_count(len(samples), STFT)
    for start in range(0, n_frames, block_frames):
        spec = stft(samples, STFT, start, min(start + block_frames, n_frames)) / scale
        yield spec, power_spectrogram(spec)


def _to_tensor(loaded: LoadedModel, array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(loaded.device)


def encode(loaded: LoadedModel, samples: np.ndarray, block_frames: int = BLOCK_FRAMES) -> Encoding:
    """Codes of a 16 kHz signal (n,), computed block_frames frames at a time."""
    codes, latents = [], []
    with torch.no_grad():
        for _, power in _blocks(_mono(samples), block_frames):
            code = loaded.model.codes(_to_tensor(loaded, power))
            codes.append(code.cpu().numpy())
            latents.append(loaded.model.to_latent(code).cpu().numpy())
    return Encoding(np.concatenate(codes), np.concatenate(latents))


def decode(loaded: LoadedModel, z: np.ndarray) -> np.ndarray:
    """Variances sigma^2 (T, F) for latents z (T, L)."""
    latent_dim = loaded.model.config.latent_dim
    if np.ndim(z) != 2 or np.shape(z)[1] != latent_dim:
        raise ValueError(f"z: expected (frames, {latent_dim}), got {np.shape(z)}")
    with torch.no_grad():
        return loaded.model.decode(_to_tensor(loaded, z)).exp().cpu().numpy()


def decode_codes(loaded: LoadedModel, codes: np.ndarray, length: int, peak: float = 1.0,
                 phase_from: np.ndarray | None = None, iterations: int = GRIFFIN_LIM_ITERATIONS,
                 block_frames: int = BLOCK_FRAMES) -> np.ndarray:
    """Sound from codes (T, K) (w for SDM-VAE, z for the VAE, the gated code for VSC): z = D w, decode to sigma^2,
    magnitude sqrt(sigma^2), with the phase of phase_from (n = length samples at 16 kHz; decode_codes of encode's
    codes with the input's phase equals resynthesise) or, without it, a phase found by fast Griffin-Lim
    (`iterations`). Returns (length,) float64 at the level `peak` (the input's max |x|, kept in codes files).
    """
    if codes.ndim != 2 or codes.shape[1] != loaded.model.config.code_dim:
        raise ValueError(f"codes: expected (frames, {loaded.model.config.code_dim}), got {codes.shape}")
    if not np.isfinite(codes).all():
        raise ValueError("codes: contain NaN or infinite values")
    if len(codes) != frame_count(length, STFT):
        raise ValueError(f"codes: {len(codes)} frames do not fit {length} samples ({frame_count(length, STFT)})")
    if phase_from is not None and len(_mono(phase_from, "phase_from")) != length:
        raise ValueError(f"phase_from: {len(phase_from)} samples, the codes are of {length}")
    def magnitudes(start: int) -> np.ndarray:
        code = _to_tensor(loaded, codes[start : start + block_frames])
        with torch.no_grad():
            return _magnitude(loaded, loaded.model.to_latent(code))

    if phase_from is None:
        whole = np.concatenate([magnitudes(start) for start in range(0, len(codes), block_frames)])
        return griffin_lim(whole, length, iterations) * peak
    ola = OverlapAdd(length, STFT)  # block by block, as resynthesise: memory stays bounded however long the signal
    out = []
    for start in range(0, len(codes), block_frames):
        stop = min(start + block_frames, len(codes))
        out.append(ola.push(with_phase_of(magnitudes(start), stft(phase_from, STFT, start, stop))))
    return np.concatenate([*out, ola.finish()]) * peak


def _magnitude(loaded: LoadedModel, z: torch.Tensor) -> np.ndarray:
    """sqrt(sigma^2(z)) (T, F) float64: the decoded magnitude that resynthesis puts under a phase."""
    return np.sqrt(loaded.model.decode(z).exp().cpu().numpy().astype(np.float64))


def resynthesise(loaded: LoadedModel, samples: np.ndarray, block_frames: int = BLOCK_FRAMES) -> np.ndarray:
    """Encode -> posterior mean -> decode -> sqrt(sigma^2) with the input's phase -> iSTFT.

    Works block_frames frames at a time (bounded memory; identical output). Returns (n,) at the input's level
    and length, float32 for float32 input, float64 otherwise.
    """
    return _resynthesise(loaded, samples, block_frames, codes=None)


def resynthesise_with_codes(loaded: LoadedModel, samples: np.ndarray,
                            block_frames: int = BLOCK_FRAMES) -> tuple[np.ndarray, Encoding]:
    """resynthesise and encode in one pass of the encoder: (output (n,), Encoding)."""
    codes: list[tuple[np.ndarray, np.ndarray]] = []
    out = _resynthesise(loaded, samples, block_frames, codes)
    return out, Encoding(np.concatenate([c for c, _ in codes]), np.concatenate([z for _, z in codes]))


def _resynthesise(loaded: LoadedModel, samples: np.ndarray, block_frames: int,
                  codes: list[tuple[np.ndarray, np.ndarray]] | None) -> np.ndarray:
    def block(spec: np.ndarray, power: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            code = loaded.model.codes(_to_tensor(loaded, power))
            z = loaded.model.to_latent(code)
            if codes is not None:
                codes.append((code.cpu().numpy(), z.cpu().numpy()))
            return with_phase_of(_magnitude(loaded, z), spec)

    return _block_by_block(samples, block_frames, block)


def _block_by_block(samples: np.ndarray, block_frames: int, spectrum: Callable[[np.ndarray, np.ndarray], np.ndarray]
                    ) -> np.ndarray:
    """iSTFT of spectrum(spec, power) for each block of the peak-normalised STFT, at the input's level and length;
    float32 for float32 input, float64 otherwise. Memory stays bounded however long the signal."""
    samples = _mono(samples)
    out = np.empty(len(samples), dtype=np.result_type(samples.dtype, np.float32))
    ola = OverlapAdd(len(samples), STFT)
    filled = 0
    for spec, power in _blocks(samples, block_frames):
        chunk = ola.push(spectrum(spec, power))
        out[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    out[filled:] = ola.finish()
    out *= peak_level(samples)
    return out


def enhance(loaded: LoadedModel, samples: np.ndarray, config: EnhanceConfig = EnhanceConfig(),
            block_frames: int = BLOCK_FRAMES, on_block: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The speech in a noisy 16 kHz signal (n,): a parametric Wiener filter (config.wiener_exponent 1: the posterior
    mean) under the model's speech prior and a noise NMF learned on the recording (sdmresynth.enhance), with the
    noisy phase. Each block of block_frames frames (about 33 s) gets its own noise model. on_block(done, total)
    reports progress. Same length and level as the input."""
    total = -(-frame_count(len(samples), STFT) // block_frames)
    done = 0

    def block(spec: np.ndarray, power: np.ndarray) -> np.ndarray:
        nonlocal done
        speech = enhance_spectrogram(loaded.model, spec, config).speech
        done += 1
        if on_block:
            on_block(done, total)
        return speech

    return _block_by_block(samples, block_frames, block)


def resynthesise_file(loaded: LoadedModel, source: Path, target: Path, keep_rate: bool = False) -> Audio:
    """Resynthesise an audio file into a 16-bit WAV (16 kHz, or the input's rate with keep_rate)."""
    audio = read_audio(source)
    _write_output(audio, resynthesise(loaded, audio.samples), target, keep_rate)
    return audio


def enhance_file(loaded: LoadedModel, source: Path, target: Path, config: EnhanceConfig = EnhanceConfig(),
                 keep_rate: bool = False, on_block: Callable[[int, int], None] | None = None) -> Audio:
    """Enhance an audio file into target (format from its suffix; 16 kHz, or the input's rate with keep_rate)."""
    audio = read_audio(source)
    if not np.any(audio.samples):
        audio.notices.append(f"{source}: digital silence, written as silence")
    _write_output(audio, enhance(loaded, audio.samples, config, on_block=on_block), target, keep_rate)
    return audio


def _write_output(audio: Audio, out: np.ndarray, target: Path, keep_rate: bool) -> None:
    """Write a 16 kHz result for audio (at its source rate and length with keep_rate); note clipping."""
    rate = audio.sample_rate
    if keep_rate and audio.source_rate != rate:
        out, rate = resample(out, rate, audio.source_rate)[: audio.source_length], audio.source_rate
    clipped = write_audio(target, out, rate)
    if clipped:
        audio.notices.append(f"{target}: {clipped} samples clipped to full scale")
