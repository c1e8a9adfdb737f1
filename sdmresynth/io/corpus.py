"""Corpora: the audio files of a folder or of a split list, and a speaker split."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}


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
