"""Scores of files and their summary per model: mean and 95 % confidence half-width of each metric (Table 1)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..dsp.metrics import METRIC_NAMES


@dataclass
class FileScore:
    """One (model, file) result: metric values, or the reason it could not be scored."""

    model: str
    file: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""


@dataclass
class ModelSummary:
    """Per-model aggregate: mean and 95 % confidence half-width of each metric over scored files."""

    name: str
    files: int
    failed: int
    mean: dict[str, float]
    ci95: dict[str, float]
    failures: list[tuple[str, str]]
    latent_dim: int | None = None  # L and K of the model, where known
    atoms: int | None = None


def without_file(file: str, reason: str) -> str:
    """A failure reason without the file name its message may start with (the file is named once, beside it)."""
    return reason[len(file) + 2:] if reason.startswith(f"{file}: ") else reason


def summarise(scores: list[FileScore]) -> list[ModelSummary]:
    """One summary per model, in the order the models first appear."""
    summaries = []
    for name in dict.fromkeys(s.model for s in scores):
        rows = [s for s in scores if s.model == name]
        good = [s.metrics for s in rows if not s.error]
        mean, ci95 = {}, {}
        for metric in METRIC_NAMES:
            values = np.array([g[metric] for g in good if metric in g])  # systems without codes have no hoyer
            mean[metric] = float(values.mean()) if len(values) else math.nan
            ci95[metric] = float(1.96 * values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
        failures = [(s.file, without_file(s.file, s.error)) for s in rows if s.error]
        summaries.append(ModelSummary(name, len(good), len(failures), mean, ci95, failures))
    return summaries
