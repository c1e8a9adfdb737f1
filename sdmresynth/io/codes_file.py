"""The codes file that `encode` writes and `decode` reads: a plain .npz, never pickled, versioned."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dsp.stft import StftConfig, frame_count
from ..errors import UserError
from .atomic import write_atomically

CODES_FORMAT = "sdmresynth-codes"
CODES_VERSION = 1


@dataclass
class CodesFile:
    """What decode needs: codes (T, K) and where they came from (the model's shipped name or checkpoint path, the
    checkpoint's hash, the signal's length in samples at sample_rate and its peak level)."""

    codes: np.ndarray
    model: str
    model_sha256: str
    length: int
    peak: float
    sample_rate: int
    hop: int
    n_fft: int


def write_codes(path: Path, codes_file: CodesFile, z: np.ndarray, hoyer: np.ndarray) -> None:
    """Write the codes (T, K), latents z (T, L) and per-frame Hoyer (T,) atomically as an .npz."""
    fields = {k: v for k, v in vars(codes_file).items() if k != "codes"}

    def write(temp: str) -> None:
        with open(temp, "wb") as handle:
            np.savez(handle, format=CODES_FORMAT, format_version=CODES_VERSION, codes=codes_file.codes, z=z,
                     hoyer=hoyer, **fields)

    write_atomically(path, write)


def read_codes(path: Path) -> CodesFile:
    """Read and check a codes file; every problem is a one-line UserError naming the file."""
    if not path.is_file():
        raise UserError(f"{path}: no such codes file")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not a codes file that encode writes (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: not a codes file that encode writes ({str(error).splitlines()[0][:100]})") from None
    if str(values.get("format", "")) != CODES_FORMAT:
        raise UserError(f"{path}: not a codes file of this sdmresynth version (re-encode the audio with "
                        "`sdmresynth encode`)")
    missing = [f for f in ("codes", "model", "model_sha256", "length", "peak", "sample_rate", "hop", "n_fft")
               if f not in values]
    if missing:
        raise UserError(f"{path}: codes file lacks {', '.join(missing)}")
    if int(values["format_version"]) > CODES_VERSION:
        raise UserError(f"{path}: codes file version {int(values['format_version'])} is newer than this sdmresynth")
    try:
        codes_file = CodesFile(np.asarray(values["codes"], dtype=np.float32), str(values["model"]),
                               str(values["model_sha256"]), int(values["length"]), float(values["peak"]),
                               int(values["sample_rate"]), int(values["hop"]), int(values["n_fft"]))
    except (TypeError, ValueError) as error:
        raise UserError(f"{path}: damaged codes file ({error})") from None
    _check(path, codes_file)
    return codes_file


def _check(path: Path, codes_file: CodesFile) -> None:
    codes = codes_file.codes
    stft = StftConfig(codes_file.sample_rate, codes_file.n_fft, codes_file.hop)
    if stft != StftConfig():
        raise UserError(f"{path}: codes of another analysis ({stft}); this sdmresynth uses {StftConfig()}")
    if codes.ndim != 2 or codes.shape[1] == 0:
        raise UserError(f"{path}: codes must be a (frames, atoms) array, got shape {codes.shape}")
    if codes_file.length < 1 or codes.shape[0] != frame_count(codes_file.length, stft):
        raise UserError(f"{path}: {codes.shape[0]} frames of codes do not fit a signal of {codes_file.length} "
                        f"samples ({frame_count(max(codes_file.length, 0), stft)} frames)")
    if not np.isfinite(codes).all():
        raise UserError(f"{path}: codes contain NaN or infinite values")
    if not (np.isfinite(codes_file.peak) and codes_file.peak > 0):
        raise UserError(f"{path}: the peak level must be a positive number, got {codes_file.peak}")
