"""Signals through a model: encode to codes, decode codes to sound (with a given phase or Griffin-Lim's), resynthesise
(encode, decode, the input's phase); block by block, so memory stays bounded however long the signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..dsp.griffin_lim import GRIFFIN_LIM_ITERATIONS, griffin_lim
from ..dsp.metrics import hoyer
from ..dsp.stft import OverlapAdd, StftConfig, frame_count, power_spectrogram, stft, with_phase_of
from ..errors import UserError
from ..io.audio import peak_level
from ..io.codes_file import CodesFile
from .model import LoadedModel

STFT = StftConfig()
BLOCK_FRAMES = 2048  # about 33 s of audio per block: memory stays bounded however long the file
Progress = Callable[[int, int], None]  # on_block(blocks done, blocks in all), or Griffin-Lim's iterations


@dataclass
class Encoding:
    """Posterior means per frame: codes (T, K) (w for SDM-VAE, z for VAE) and latents z (T, L)."""

    codes: np.ndarray
    z: np.ndarray

    @property
    def hoyer(self) -> np.ndarray:
        """Hoyer sparsity per frame (T,)."""
        return hoyer(self.codes)


def _mono(samples: np.ndarray, name: str = "samples") -> np.ndarray:
    """samples as a 1-D array of finite numbers; a ValueError that says what is wrong otherwise."""
    array = np.asarray(samples)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
        hint = f" (mix the channels first: {name}.mean(axis=1))" if array.ndim == 2 else ""
        raise ValueError(f"{name}: expected a mono signal of numbers, shape (n,), got {array.dtype} {array.shape}{hint}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _blocks(samples: np.ndarray, block_frames: int, on_block: Progress | None = None):
    """(spec, power) of the peak-normalised signal, block_frames frames at a time: (T, F) each; on_block(done, total)
    after each block has been used."""
    scale = peak_level(samples)
    n_frames = frame_count(len(samples), STFT)
    starts = range(0, n_frames, block_frames)
    for done, start in enumerate(starts, 1):
        spec = stft(samples, STFT, start, min(start + block_frames, n_frames)) / scale
        yield spec, power_spectrogram(spec)
        if on_block:
            on_block(done, len(starts))


def _to_tensor(loaded: LoadedModel, array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(loaded.device)


def encode(loaded: LoadedModel, samples: np.ndarray, block_frames: int = BLOCK_FRAMES,
           on_block: Progress | None = None) -> Encoding:
    """Codes of a 16 kHz signal (n,), computed block_frames frames at a time."""
    codes, latents = [], []
    with torch.no_grad():
        for _, power in _blocks(_mono(samples), block_frames, on_block):
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
                 block_frames: int = BLOCK_FRAMES, on_block: Progress | None = None) -> np.ndarray:
    """Sound from codes (T, K) (w for SDM-VAE, z for the VAE, the gated code for VSC): z = D w, decode to sigma^2,
    magnitude sqrt(sigma^2), with the phase of phase_from (n = length samples at 16 kHz; decode_codes of encode's
    codes with the input's phase equals resynthesise) or, without it, a phase found by fast Griffin-Lim
    (`iterations`; on_block then counts them). Returns (length,) float64 at the level `peak` (the input's max |x|,
    kept in codes files). decode_codes_file also checks that the codes are the model's.
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
        return griffin_lim(whole, length, iterations, on_iteration=on_block) * peak
    ola = OverlapAdd(length, STFT)  # block by block, as resynthesise: memory stays bounded however long the signal
    out = []
    starts = range(0, len(codes), block_frames)
    for done, start in enumerate(starts, 1):
        stop = min(start + block_frames, len(codes))
        out.append(ola.push(with_phase_of(magnitudes(start), stft(phase_from, STFT, start, stop))))
        if on_block:
            on_block(done, len(starts))
    return np.concatenate([*out, ola.finish()]) * peak


def decode_codes_file(loaded: LoadedModel, codes_file: CodesFile, phase_from: np.ndarray | None = None,
                      iterations: int = GRIFFIN_LIM_ITERATIONS, where: object = "codes",
                      on_block: Progress | None = None) -> np.ndarray:
    """decode_codes of a codes file (io.codes_file.read_codes), after checking that they are this model's: made by
    the same checkpoint (its SHA-256) and of its code size, and that phase_from has the encoded signal's length.
    Problems are UserErrors naming `where` (the codes file's path)."""
    if loaded.sha256 != codes_file.model_sha256:
        raise UserError(f"{where}: made by another model ({codes_file.model}, checkpoint sha256 "
                        f"{codes_file.model_sha256[:12]}...), not {loaded.name} ({loaded.sha256[:12]}...)")
    if codes_file.codes.shape[1] != loaded.model.config.code_dim:  # a hand-edited file
        raise UserError(f"{where}: codes have {codes_file.codes.shape[1]} atoms, model {loaded.name} has "
                        f"{loaded.model.config.code_dim}")
    if phase_from is not None and len(phase_from) != codes_file.length:
        raise UserError(f"{where}: the phase recording has {len(phase_from)} samples at 16 kHz, but the codes are of "
                        f"a signal of {codes_file.length}: give the recording that was encoded",
                        parameters=("phase_from",))
    return decode_codes(loaded, codes_file.codes, codes_file.length, codes_file.peak, phase_from, iterations,
                        on_block=on_block)


def _magnitude(loaded: LoadedModel, z: torch.Tensor) -> np.ndarray:
    """sqrt(sigma^2(z)) (T, F) float64: the decoded magnitude that resynthesis puts under a phase."""
    return np.sqrt(loaded.model.decode(z).exp().cpu().numpy().astype(np.float64))


def resynthesise(loaded: LoadedModel, samples: np.ndarray, block_frames: int = BLOCK_FRAMES,
                 on_block: Progress | None = None) -> np.ndarray:
    """Encode -> posterior mean -> decode -> sqrt(sigma^2) with the input's phase -> iSTFT.

    Works block_frames frames at a time (bounded memory; identical output). Returns (n,) at the input's level
    and length, float32 for float32 input, float64 otherwise.
    """
    return _resynthesise(loaded, samples, block_frames, None, on_block)


def resynthesise_with_codes(loaded: LoadedModel, samples: np.ndarray,
                            block_frames: int = BLOCK_FRAMES) -> tuple[np.ndarray, Encoding]:
    """resynthesise and encode in one pass of the encoder: (output (n,), Encoding)."""
    codes: list[tuple[np.ndarray, np.ndarray]] = []
    out = _resynthesise(loaded, samples, block_frames, codes, None)
    return out, Encoding(np.concatenate([c for c, _ in codes]), np.concatenate([z for _, z in codes]))


def _resynthesise(loaded: LoadedModel, samples: np.ndarray, block_frames: int,
                  codes: list[tuple[np.ndarray, np.ndarray]] | None, on_block: Progress | None) -> np.ndarray:
    def block(spec: np.ndarray, power: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            code = loaded.model.codes(_to_tensor(loaded, power))
            z = loaded.model.to_latent(code)
            if codes is not None:
                codes.append((code.cpu().numpy(), z.cpu().numpy()))
            return with_phase_of(_magnitude(loaded, z), spec)

    return block_by_block(samples, block_frames, block, on_block)


def block_by_block(samples: np.ndarray, block_frames: int, spectrum: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   on_block: Progress | None = None) -> np.ndarray:
    """iSTFT of spectrum(spec, power) for each block of the peak-normalised STFT, at the input's level and length;
    float32 for float32 input, float64 otherwise. Memory stays bounded however long the signal."""
    samples = _mono(samples)
    out = np.empty(len(samples), dtype=np.result_type(samples.dtype, np.float32))
    ola = OverlapAdd(len(samples), STFT)
    filled = 0
    for spec, power in _blocks(samples, block_frames, on_block):
        chunk = ola.push(spectrum(spec, power))
        out[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    out[filled:] = ola.finish()
    out *= peak_level(samples)
    return out


