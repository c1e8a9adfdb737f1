"""Where tables go: a rich console as wide as the terminal, or wide enough that piped output is never cut."""

from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 250


def stdout_console() -> Console:
    """The terminal's width on a terminal; PIPED_WIDTH columns when piped, so that names and headers stay whole."""
    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
