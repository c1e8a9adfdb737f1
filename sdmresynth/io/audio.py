"""Load, validate, resample and write audio (soundfile); outputs are written atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import UserError
from .atomic import write_atomically

MODEL_RATE = 16000
MIN_SOURCE_RATE = 4000  # below this a file is not speech audio (telephone speech is 8 kHz)

# Output formats by suffix: (soundfile format, subtype). 16-bit PCM where the format has it, Vorbis for OGG, MP3
# where the installed libsndfile writes it (1.1 and later).
OUTPUT_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".aiff": ("AIFF", "PCM_16"),
    ".aif": ("AIFF", "PCM_16"),
    **({".mp3": ("MP3", "MPEG_LAYER_III")} if "MP3" in sf.available_formats() else {}),
}
FLOAT_FORMATS = {"WAV", "AIFF"}  # those that keep samples beyond full scale as 32-bit floats


@dataclass
class Audio:
    """A mono signal at `sample_rate`, with notices about what loading changed."""

    samples: np.ndarray  # (n,) float32 (float64 after resampling)
    sample_rate: int
    source_rate: int
    source_length: int
    notices: list[str] = field(default_factory=list)


def read_audio(path: str | os.PathLike, target_rate: int = MODEL_RATE) -> Audio:
    """Read any file soundfile can decode, mixed to mono and resampled to target_rate.

    Raises UserError (message names the file) for missing, empty, unreadable or non-finite input.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)  # exact for 8-24 bit; half of float64's memory
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        reason = reason.split(": ", 1)[-1] if reason.startswith("Error opening") else reason
        raise UserError(f"{path}: not a readable audio file ({reason.strip()})") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    if data.shape[0] == 0:
        raise UserError(f"{path}: contains no audio samples")
    if rate < MIN_SOURCE_RATE:
        raise UserError(f"{path}: a sample rate of {rate} Hz is too low for speech (at least {MIN_SOURCE_RATE} Hz)")
    if not np.isfinite(data).all():
        raise UserError(f"{path}: contains NaN or infinite samples")
    notices = []
    declared = _declared_wav_frames(path)
    if declared is not None and declared > data.shape[0]:
        notices.append(f"{path}: truncated file: {data.shape[0]} of {declared} samples present")
    if data.shape[1] > 1:
        notices.append(f"{path}: mixed {data.shape[1]} channels to mono")
    samples = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float64).astype(np.float32)
    if rate != target_rate:
        samples = resample(samples, rate, target_rate)
        notices.append(f"{path}: resampled from {rate} Hz to {target_rate} Hz")
    return Audio(samples, target_rate, rate, data.shape[0], notices)


def _declared_wav_frames(path: Path) -> int | None:
    """Frames a PCM WAV header promises (None for other formats), to notice truncated files."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE" or b"data" not in head[12:]:
        return None
    fmt_at, data_at = head.find(b"fmt "), head.find(b"data", 12)
    if fmt_at < 0 or fmt_at + 24 > len(head) or data_at + 8 > len(head):
        return None
    frame_bytes = int.from_bytes(head[fmt_at + 20 : fmt_at + 22], "little")  # the block align field
    size = int.from_bytes(head[data_at + 4 : data_at + 8], "little")
    return None if size == 0xFFFFFFFF or frame_bytes == 0 else size // frame_bytes


def peak_level(samples: np.ndarray) -> float:
    """max |x|, the factor of peak normalisation (1.0 for silence, which stays silent)."""
    peak = max(float(samples.max()), -float(samples.min())) if len(samples) else 0.0
    return peak if peak > 0 else 1.0


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly) between integer rates."""
    if rate_in == rate_out:
        return samples
    from scipy.signal import resample_poly  # imported here: scipy.signal is slow to import, and rarely needed

    common = gcd(rate_in, rate_out)
    return resample_poly(samples, rate_out // common, rate_in // common)


def output_format(path: str | os.PathLike, floating: bool = False) -> tuple[str, str]:
    """(format, subtype) that soundfile writes for this file name's suffix, 32-bit float with `floating`; UserError
    for a suffix we do not write (or a format without float samples)."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        raise UserError(f"{path}: has no suffix to name its format: name a file ({', '.join(OUTPUT_FORMATS)}), or a "
                        "folder with a trailing /")
    if suffix not in OUTPUT_FORMATS:
        raise UserError(f"{path}: unknown output format {suffix!r} (use {', '.join(OUTPUT_FORMATS)})")
    file_format, subtype = OUTPUT_FORMATS[suffix]
    if floating:
        if file_format not in FLOAT_FORMATS:
            raise UserError(f"{path}: {suffix} keeps no float samples: write .wav or .aiff for them",
                            parameters=("float",))
        subtype = "FLOAT"
    return file_format, subtype


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, floating: bool = False) -> int:
    """Write audio atomically (temp file + rename) in the format its suffix names (16-bit WAV, FLAC or AIFF, Ogg
    Vorbis, MP3; with `floating` 32-bit float WAV or AIFF, which keep samples beyond full scale); returns how many
    samples were clipped to full scale (none with `floating`)."""
    path = Path(path)
    file_format, subtype = output_format(path, floating)
    if sample_rate <= 0:
        raise UserError(f"{path}: not written: a sample rate of {sample_rate} Hz")
    if not np.isfinite(samples).all():
        raise UserError(f"{path}: not written: the samples contain NaN or infinite values")
    clipped = 0 if floating else int(np.count_nonzero(samples > 1.0) + np.count_nonzero(samples < -1.0))
    if clipped:
        samples = np.clip(samples, -1.0, 1.0)

    def write(handle_path: str) -> None:
        sf.write(handle_path, samples, sample_rate, subtype=subtype, format=file_format)

    write_atomically(path, write)
    return clipped
