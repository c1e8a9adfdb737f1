"""Training data: audio files from a directory or split lists, a speaker split, frames in memory or from the store."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .audio import peak_level, read_audio
from .errors import UserError
from .precision import check_precision, rounded
from .stft import StftConfig, power_frames
from .workers import StartedPool

if TYPE_CHECKING:
    from .store import StoredFrames

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}
TRIM_TOP_DB = 30.0


def find_audio(directory: Path) -> list[Path]:
    """Every audio file below directory (recursively), sorted."""
    if not directory.is_dir():
        raise UserError(f"{directory}: {'not a directory' if directory.exists() else 'no such directory'}")
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def read_list(list_file: Path) -> list[Path]:
    """Paths in a split list, one per line, relative to the list's own folder (blank and # lines skipped)."""
    if not list_file.is_file():
        raise UserError(f"{list_file}: no such list file")
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{list_file}: cannot be read as a list of paths ({error})") from None
    paths = [(list_file.parent / line.strip()).resolve() for line in lines if line.strip() and not line.startswith("#")]
    if not paths:
        raise UserError(f"{list_file}: the list names no files")
    if not any(map(_is_file, paths)):
        raise UserError(f"{list_file}: none of the {len(paths)} files it names exists (a list has one audio path per "
                        "line, relative to the list's folder)")
    return paths


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long to be a path
        return False


def files_from(source: Path) -> list[Path]:
    """The audio files a path names: a split list (a file), or every audio file below a directory."""
    if not source.exists():
        raise UserError(f"{source}: no such file or directory")
    files = read_list(source) if source.is_file() else find_audio(source)
    if not files:
        raise UserError(f"{source}: no audio files found")
    return files


def speaker_of(path: Path) -> str:
    """The speaker id of a file: its parent folder's name (the LibriSpeech / speechocean762 layout)."""
    return path.parent.name


def split_by_speaker(paths: list[Path], every: int = 10) -> tuple[list[Path], list[Path]]:
    """Speaker-disjoint train/val split: every `every`-th speaker (sorted) goes to validation.

    With fewer than two speakers, files are split instead (val = every `every`-th file).
    """
    speakers = sorted({speaker_of(p) for p in paths})
    if len(speakers) >= 2:
        held_out = set(speakers[every - 1 :: every]) or {speakers[-1]}
        train = [p for p in paths if speaker_of(p) not in held_out]
        val = [p for p in paths if speaker_of(p) in held_out]
    else:  # one speaker: the split cannot be speaker-disjoint
        val = paths[every - 1 :: every] or paths[-1:]
        train = [p for p in paths if p not in val] or paths
    return train, val


def trim_silence(power: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Drop leading/trailing frames whose energy is more than top_db below the loudest frame's."""
    energy = power.sum(axis=1)
    if energy.max() <= 0:
        return power[:0]
    loud = np.flatnonzero(10 * np.log10(np.maximum(energy, 1e-30) / energy.max()) > -top_db)
    return power[loud[0] : loud[-1] + 1]


def file_frames(path: Path, cfg: StftConfig) -> np.ndarray:
    """Power frames (T, F) of one file: 16 kHz mono, peak-normalised, silence at the ends trimmed."""
    audio = read_audio(path, cfg.sample_rate)
    return trim_silence(power_frames(audio.samples / peak_level(audio.samples), cfg))


@dataclass
class FrameSet:
    """Frames of a set of files, stacked: (N, F) float32 (in memory, or read-only from the memory-mapped frame
    store), and the files that could not be read."""

    frames: np.ndarray | StoredFrames
    files: list[str]
    skipped: list[str] = field(default_factory=list)


def default_cache_dir() -> Path:
    return Path(os.environ.get("SDMRESYNTH_CACHE", Path.home() / ".cache" / "sdmresynth"))


def cache_size(cache_dir: Path) -> int:
    """Bytes held under the cache folder (0 when it does not exist)."""
    if not cache_dir.is_dir():
        return 0
    from .store import disk_bytes

    return sum(disk_bytes(p) for p in cache_dir.rglob("*") if p.is_file())


def format_size(size: int) -> str:
    """A byte count for people: 370 MB, 1.2 GB."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def frames_stored(paths: list[Path], cfg: StftConfig, cache_dir: Path, precision: str = "float32") -> bool:
    """Whether cache_dir holds the frame store of `paths` already (so that load_frames builds nothing)."""
    from .store import is_built

    return is_built(paths, cfg, cache_dir, TRIM_TOP_DB, precision)


def load_frames(paths: list[Path], cfg: StftConfig, cache_dir: Path | None = None,
                progress: Callable[[int], None] | None = None, workers: int | StartedPool = 0,
                precision: str = "float32") -> FrameSet:
    """Frames of all files (unreadable ones skipped and listed), with the values `precision` keeps. With cache_dir
    they come from the frame store there (built the first time on `workers` processes, or on this one and a started
    pool's): a read-only memory map, so memory stays bounded however large the corpus. Without it they are computed
    here and held in memory, as float32 either way. progress(n): n more files done."""
    check_precision(precision)
    if cache_dir:
        from .store import open_store

        frames, manifest = open_store(paths, cfg, cache_dir, TRIM_TOP_DB, workers, progress, precision)
        return FrameSet(frames, manifest["files"], manifest["skipped"])
    chunks, files, skipped = [], [], []
    for path in paths:
        try:
            chunks.append(file_frames(path, cfg))
            files.append(str(path))
        except UserError as error:
            skipped.append(str(error))
        if progress:
            progress(1)
    frames = np.concatenate(chunks) if chunks else np.zeros((0, cfg.n_bins), dtype=np.float32)
    return FrameSet(rounded(frames, precision), files, skipped)
