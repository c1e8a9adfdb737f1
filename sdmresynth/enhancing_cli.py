"""`sdmresynth enhance` on files: the per-file job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .api import EnhanceConfig, LoadedModel, enhance_file


def enhance_job(loaded: LoadedModel, source: Path, target: Path, config: EnhanceConfig = EnhanceConfig(),
                keep_rate: bool = False, on_block: Callable[[int, int], None] | None = None
                ) -> tuple[list[str], dict[str, Any]]:
    """Enhance source into target; return notices and a summary."""
    audio = enhance_file(loaded, source, target, config, keep_rate, on_block)
    seconds = len(audio.samples) / audio.sample_rate
    return audio.notices, {"file": str(source), "output": str(target), "seconds": seconds}
