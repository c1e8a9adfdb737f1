"""Batch evaluation: resynthesise each file with each model, score it, aggregate per model (Table 1)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import UserError
from .metrics import METRIC_NAMES, quality_metrics
from .workers import start_server, worker_count, worker_pool

_WORKER_MODELS: dict = {}


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


def score_one(model_name: str, path: str, device: str = "cpu", output: str | None = None) -> FileScore:
    """Analyse, encode, resynthesise and score one file against its peak-normalised 16 kHz input; the resynthesis
    is written to `output` if given."""
    from .api import load_model, read_audio, resynthesise_with_codes, write_audio
    from .audio import peak_level

    loaded = _WORKER_MODELS.get(model_name)
    if loaded is None:
        loaded = _WORKER_MODELS[model_name] = load_model(model_name, device)
    try:
        audio = read_audio(path)
        reference = audio.samples.astype(np.float64) / peak_level(audio.samples)
        estimate, encoding = resynthesise_with_codes(loaded, reference)
        metrics = quality_metrics(reference, estimate)
        metrics["hoyer"] = float(encoding.hoyer.mean())
        if output:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            write_audio(output, estimate, audio.sample_rate)
    except (UserError, ValueError) as error:
        return FileScore(loaded.name, path, error=str(error))
    return FileScore(loaded.name, path, metrics)


def check_models(models: list[str]) -> dict[str, tuple[int, int]]:
    """Load every model once, so that an unreadable one is an error before any work starts; returns each model's
    (L, K) by its display name."""
    from .api import load_model

    shapes = {}
    for name in models:
        loaded = load_model(name, "cpu")
        shapes[loaded.name] = (loaded.model.config.latent_dim, loaded.model.config.code_dim)
    return shapes


def score_files(
    models: list[str],
    files: list[Path],
    workers: int = 0,
    device: str = "cpu",
    out_dir: Path | None = None,
    on_result: Callable[[FileScore], None] | None = None,
    done: frozenset[tuple[str, str]] = frozenset(),
    check: bool = True,
) -> list[FileScore]:
    """Score every (model, file) pair, in `workers` processes (0: one per CPU), except the (model name, file)
    pairs in `done`. With `check` (the caller has not checked) the out_dir is checked and the models loaded once
    first, so that a bad one fails before any work; results come largest file first, so that no worker is left with a
    long file at the end."""
    from .pretrained import resolve_model

    names = {m: resolve_model(m)[0] for m in models}
    if check:
        check_out_dir(list(names.values()), files, out_dir)
    outputs = _outputs(files, out_dir)
    jobs = [(m, str(f), device, str(Path(out_dir, names[m], outputs[f])) if out_dir else None)
            for m in models for f in files if (names[m], str(f)) not in done]
    jobs.sort(key=lambda job: -_size(job[1]))  # stable: each file's models stay in the given order
    workers = worker_count(workers, len(jobs))
    start_server(workers)
    if check:
        check_models(models)
    if workers <= 1:
        return _collect((score_one(*job) for job in jobs), on_result)
    with worker_pool(workers) as pool:
        return _collect(pool.map(score_one, *zip(*jobs), chunksize=1), on_result)


def _outputs(files: list[Path], out_dir: Path | None) -> dict[Path, Path]:
    """Each file's resynthesis under a model's folder in out_dir: its path below the files' common folder, as .wav
    (so that a/x.wav and b/x.wav stay two files)."""
    if not out_dir or not files:
        return {}
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    return {f: Path(os.path.relpath(os.path.abspath(f), root)).with_suffix(".wav") for f in files}


def check_out_dir(names: list[str], files: list[Path], out_dir: Path | None) -> None:
    """Refuse an out_dir where a resynthesis would replace a file being scored (say, scoring an earlier run's
    resyntheses in out_dir/MODEL with the same out_dir)."""
    if not out_dir:
        return
    inputs = {os.path.realpath(f) for f in files}
    for relative in _outputs(files, out_dir).values():
        for name in names:
            if os.path.realpath(Path(out_dir, name, relative)) in inputs:
                raise UserError(f"{Path(out_dir, name, relative)}: --out-dir would overwrite this input with its "
                                "resynthesis: give another --out-dir")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _collect(outcomes: Iterable[FileScore], on_result: Callable[[FileScore], None] | None) -> list[FileScore]:
    results = []
    for outcome in outcomes:
        results.append(outcome)
        if on_result:
            on_result(outcome)
    return results


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
