"""Many files at once: plan input -> output pairs (keeping folder structure), run them on worker processes,
and collect what failed without stopping."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..io.corpus import find_audio
from ..workers import worker_count, worker_pool
from .model import cached_model


@dataclass
class JobResult:
    """What became of one input: notices and a summary, or the reason it failed."""

    source: Path
    target: Path
    notices: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    error: str = ""


def plan(sources: list[Path], target_dir: Path | None, suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: a directory's files keep their path below it; single files go to target_dir.
    Without target_dir every output goes next to its input.

    Outputs that would collide, or overwrite an input, are refused before any work starts.
    """
    pairs = []
    for source in sources:
        if source.is_dir():
            files = find_audio(source)
            if not files:
                raise UserError(f"{source}: no audio files found")
            base = target_dir or source
            pairs += [(f, base / f.relative_to(source).parent / (f.stem + suffix)) for f in files]
        elif source.exists():
            pairs.append((source, (target_dir or source.parent) / (source.stem + suffix)))
        else:
            raise UserError(f"{source}: no such file or directory")
    seen: dict[Path, Path] = {}
    inputs = {s.resolve() for s, _ in pairs}
    for source, target in pairs:
        if target.resolve() in inputs:
            raise UserError(f"{target}: would overwrite an input file")
        if target in seen:
            raise UserError(f"{target}: both {seen[target]} and {source} would be written there")
        seen[target] = source
    return pairs


def _call(job: Callable, model: tuple[str, str, int | None], source: Path, target: Path, options: dict) -> JobResult:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        notices, summary = job(cached_model(*model), source, target, **options)
        return JobResult(source, target, notices, summary)
    except (UserError, OSError) as error:
        return JobResult(source, target, error=str(error))


def run_jobs(job: Callable, pairs: list[tuple[Path, Path]], model_name: str, device: str, workers: int,
             on_result: Callable[[JobResult], None] | None = None, refine_steps: int | None = None,
             **options) -> list[JobResult]:
    """Run job(model, source, target, **options) -> (notices, summary) for every pair; failures are collected.
    refine_steps overrides the model's encode-time refinement."""
    model = (model_name, device, refine_steps)
    workers = worker_count(workers, len(pairs))
    results = []
    with worker_pool(workers) if workers > 1 else nullcontext() as pool:
        if pool is None:
            outcomes = (_call(job, model, s, t, options) for s, t in pairs)
        else:
            futures = [pool.submit(_call, job, model, s, t, options) for s, t in pairs]
            outcomes = (future.result() for future in futures)
        for outcome in outcomes:
            results.append(outcome)
            if on_result:
                on_result(outcome)
    return results
