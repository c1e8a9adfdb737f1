"""Where outputs go, decided as `cp` decides: a folder target (an existing folder, or a name ending in a slash)
takes each input's name; several inputs or a folder input need a folder target."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from .audio import OUTPUT_FORMATS, output_format
from .corpus import AUDIO_SUFFIXES

FILE_SUFFIXES = set(OUTPUT_FORMATS) | AUDIO_SUFFIXES | {".npz"}


def names_folder(target: str) -> bool:
    """Whether target means a folder: it ends in a slash or is an existing folder."""
    return target.endswith(("/", os.sep)) or Path(target).is_dir()


def check_audio_target(target: str, floating: bool = False) -> None:
    """Refuse, before any work, an audio file target whose suffix names no format we write, or none with float
    samples if they are asked for (a folder target's outputs are .wav)."""
    if not names_folder(target):
        output_format(target, floating)


def single_output(source: Path, target: str | None, suffix: str, stem: str | None = None) -> Path:
    """The output file of one input: target itself, or the input's stem (or `stem`) + suffix inside a folder target
    (created when its name ends in a slash); without a target, next to the input."""
    name = (stem or source.stem) + suffix
    if target is None:
        return source.with_name(name)
    if not names_folder(target):
        return Path(target)
    folder = Path(target)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{target}: is a file, not a folder")
    if source.is_file():  # a missing input is reported by the job itself, with nothing created
        folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def batch_folder(target: str | None) -> Path | None:
    """The output folder of several inputs or a folder input; refused (before anything is created) when target
    is an existing file or is named like one (out.wav, codes.npz)."""
    if target is None:
        return None
    folder = Path(target)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{target}: is a file; several inputs or a folder input need an output folder")
    if not names_folder(target) and folder.suffix.lower() in FILE_SUFFIXES:
        raise UserError(f"{target}: several inputs or a folder input need an output folder, not a file name "
                        f"(end it with / for a folder of that name)")
    return folder
