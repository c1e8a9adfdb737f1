"""`sdmresynth score`: progress over files, a Table-1 style summary, JSON and CSV output."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .audio import write_atomically
from .data import files_from
from .errors import UserError
from .metrics import METRIC_NAMES
from .pretrained import read_index
from .scoring import FileScore, ModelSummary, check_models, score_files, summarise


def expand_models(names: list[str]) -> list[str]:
    """`all` becomes every shipped model, in the index's order."""
    expanded = []
    for name in names:
        expanded.extend(read_index()["models"] if name == "all" else [name])
    return list(dict.fromkeys(expanded))


def summary_table(summaries: list[ModelSummary]) -> Table:
    table = Table(title="resynthesis quality and code sparsity (mean ± 95 % CI)")
    table.add_column("model")
    for metric in METRIC_NAMES:
        table.add_column(metric, justify="right")
    table.add_column("files", justify="right")
    table.add_column("failed", justify="right")
    for s in summaries:
        cells = [f"{s.mean[m]:.3f} ± {s.ci95[m]:.3f}" if not math.isnan(s.mean[m]) else "-" for m in METRIC_NAMES]
        table.add_row(s.name, *cells, str(s.files), str(s.failed))
    return table


def write_csv(path: Path, scores: list[FileScore]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "file", *METRIC_NAMES, "error"])
    for s in scores:
        writer.writerow([s.model, s.file, *(s.metrics.get(m, "") for m in METRIC_NAMES), s.error])
    write_atomically(path, lambda temp: Path(temp).write_text(buffer.getvalue(), encoding="utf-8"))


def run_scoring(model_names: list[str], data: Path | None, list_file: Path | None, workers: int, as_json: bool,
                csv_file: Path | None, out_dir: Path | None, device: str, plot: Path | None = None) -> list[ModelSummary]:
    if (data is None) == (list_file is None):
        raise UserError("give exactly one of --data DIR or --list FILE")
    files = files_from(list_file or data)
    models = expand_models(model_names)
    if not models:
        raise UserError("no models to score (none shipped?)")
    check_models(models)
    console = Console(stderr=True, soft_wrap=True)
    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task("scoring", total=len(models) * len(files))
        scores = score_files(models, files, workers, device, out_dir, lambda _: progress.advance(task))
    summaries = summarise(scores)
    if csv_file:
        write_csv(csv_file, scores)
    if plot:
        from .plots import plot_scores

        plot_scores(scores, plot)
    for s in summaries:
        for file, reason in s.failures:
            console.print(f"[yellow]not scored[/] ({escape(s.name)}) {escape(file)}: {escape(reason)}")
    if as_json:
        print(json.dumps({"models": [_summary_json(s) for s in summaries]}))
    else:
        Console().print(summary_table(summaries))
    return summaries


def _summary_json(summary: ModelSummary) -> dict:
    data = {"name": summary.name, "files": summary.files, "failed": summary.failed}
    for metric in METRIC_NAMES:
        data[metric] = None if math.isnan(summary.mean[metric]) else summary.mean[metric]
        data[f"{metric}_ci95"] = None if math.isnan(summary.ci95[metric]) else summary.ci95[metric]
    data["failures"] = [{"file": f, "reason": r} for f, r in summary.failures]
    return data
