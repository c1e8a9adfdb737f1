"""Files written whole or not at all, and sizes on disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UserError


def _mode_for(path: Path) -> int:
    """The permissions a replaced file had, or those a new file gets under the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: Path, write) -> None:
    """Call write(temp_path) next to path, then rename over path; nothing is left behind on failure."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UserError(f"{path}: output directory {directory} does not exist")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror or error})") from None
    os.close(handle)
    try:
        write(temp)
        os.chmod(temp, _mode_for(path))  # mkstemp makes files private; outputs get the usual permissions
        os.replace(temp, path)
    except OSError as error:
        raise UserError(f"{path}: cannot write ({error.strerror or error})") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def disk_bytes(path: Path) -> int:
    """Bytes a file takes on disk (a sparse file's holes take none)."""
    stat = path.stat()
    blocks = getattr(stat, "st_blocks", None)  # not on every platform
    return stat.st_size if blocks is None else blocks * 512


def format_size(size: int) -> str:
    """A byte count for people: 370 MB, 1.2 GB."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
