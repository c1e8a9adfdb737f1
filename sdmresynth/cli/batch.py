"""Batch mode of `encode` and `resynth`: progress over files, failures listed at the end, exit 1 if any failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..inference.batch import plan, run_jobs
from ..inference.model import load_model


def run_batch(job: Callable, sources: list[Path], target_dir: Path | None, suffix: str, model_name: str, device: str,
              workers: int, as_json: bool = False, refine_steps: int | None = None, **options) -> None:
    """Run job over every input below sources, writing into target_dir; report and exit 1 on failures."""
    load_model(model_name, "cpu", refine_steps)  # a bad model is an error before any work starts
    pairs = plan(sources, target_dir, suffix)
    console = Console(stderr=True, soft_wrap=True)
    with Progress(TextColumn("files"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task("files", total=len(pairs))
        results = run_jobs(job, pairs, model_name, device, workers, lambda _: progress.advance(task), refine_steps,
                           **options)
    failed = [r for r in results if r.error]
    for result in results:
        for notice in result.notices:
            console.print(f"note: {escape(notice)}")
    if as_json:
        click.echo(json.dumps({"files": [r.summary for r in results if not r.error],
                               "failed": [{"file": str(r.source), "reason": r.error} for r in failed]}))
    where = f" under {escape(str(target_dir))}" if target_dir else ", each next to its input"
    console.print(f"wrote {len(results) - len(failed)} of {len(results)} files{where}")
    for result in failed:
        console.print(f"[red]failed[/] {escape(result.error)}")
    if failed:
        raise click.exceptions.Exit(1)
