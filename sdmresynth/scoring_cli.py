"""`sdmresynth score`: progress over files, a Table-1 style summary, JSON and CSV output."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .console import stdout_console
from .data import files_from
from .errors import UserError
from .metrics import METRIC_NAMES
from .pretrained import read_index, resolve_model
from .scoring import FileScore, ModelSummary, check_models, check_out_dir, score_files, summarise
from .workers import start_server, worker_count


def expand_models(names: list[str]) -> list[str]:
    """`all` becomes every shipped model, in the index's order."""
    expanded = []
    for name in names:
        expanded.extend(read_index()["models"] if name == "all" else [name])
    return list(dict.fromkeys(expanded))


def _cell(summary: ModelSummary, metric: str) -> str:
    """Mean over the 95 % CI half-width, on two lines so that a table of every metric fits 120 columns."""
    mean, ci95 = summary.mean[metric], summary.ci95[metric]
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}\n±{ci95:.3f}" if not math.isnan(ci95) else f"{mean:.3f}\n± n/a"


def summary_table(summaries: list[ModelSummary]) -> Table:
    """Models as rows, metrics as columns; names are never cut (they wrap nowhere and fold never)."""
    table = Table(title="resynthesis quality and code sparsity (mean, ± 95 % CI)")
    table.add_column("model", no_wrap=True, min_width=max((len(s.name) for s in summaries), default=5))
    for metric in METRIC_NAMES:
        table.add_column(metric, justify="right", no_wrap=True, min_width=len(metric))
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    for s in summaries:
        table.add_row(s.name, *(_cell(s, m) for m in METRIC_NAMES), str(s.files), str(s.failed))
    return table


CSV_COLUMNS = ["model", "file", *METRIC_NAMES, "error"]


def read_csv(path: Path) -> list[FileScore]:
    """Rows of an earlier (possibly interrupted) run; a damaged last line is ignored."""
    if not path.is_file():
        return []
    scores = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    metrics = {m: float(row[m]) for m in METRIC_NAMES if row.get(m)}
                    scores.append(FileScore(row["model"], row["file"], metrics, row.get("error") or ""))
                except (KeyError, TypeError, ValueError):
                    continue
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: not a score table that --csv wrote ({error}); give a new --csv file") from None
    return scores


class CsvLog:
    """Per-file rows appended as they come, so an interrupted run keeps its work (`--resume` continues it)."""

    def __init__(self, path: Path, append: bool) -> None:
        if not path.parent.is_dir():
            raise UserError(f"{path}: output directory {path.parent} does not exist")
        fresh = not append or not path.is_file() or path.stat().st_size == 0
        torn = not fresh and not path.read_bytes().endswith(b"\n")  # a run killed mid-row
        try:
            self.handle = open(path, "a" if not fresh else "w", newline="", encoding="utf-8")
        except OSError as error:
            raise UserError(f"{path}: cannot write ({error.strerror or error})") from None
        if torn:
            self.handle.write("\n")
        self.writer = csv.writer(self.handle)
        if fresh:
            self.writer.writerow(CSV_COLUMNS)

    def write(self, score: FileScore) -> None:
        self.writer.writerow([score.model, score.file, *(score.metrics.get(m, "") for m in METRIC_NAMES), score.error])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def refuse_inputs_as_outputs(outputs: dict[str, Path | None], inputs: list[Path]) -> None:
    """Refuse, before any work, an output file (by its option) that is one of the run's inputs or another output."""
    taken = {os.path.realpath(path): "an input" for path in inputs}
    for option, path in outputs.items():
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in taken:
            raise UserError(f"{path}: {option} would overwrite {taken[real]} of this run: give another file")
        taken[real] = f"the {option} output"


def run_scoring(model_names: list[str], data: Path | None, list_file: Path | None, workers: int, as_json: bool,
                csv_file: Path | None, out_dir: Path | None, device: str, plot: Path | None = None,
                resume: bool = False, report: Path | None = None) -> list[ModelSummary]:
    """Score the models on the files, with progress, the CSV log, the plot and the summary table or JSON; `report`
    is only checked here (the caller writes it)."""
    if (data is None) == (list_file is None):
        raise UserError("give exactly one of --data DIR or --list FILE")
    if resume and not csv_file:
        raise UserError("--resume continues the run recorded in --csv FILE: give it")
    files = files_from(list_file or data)
    models = expand_models(model_names)
    if not models:
        raise UserError("no models to score (none shipped?)")
    resolved = [resolve_model(m) for m in models]  # once per model: each lookup reads the index
    refuse_inputs_as_outputs({"--csv": csv_file, "--report": report, "--plot": plot},
                             [*files, *(path for _, path in resolved), *([list_file] if list_file else [])])
    names = [name for name, _ in resolved]
    check_out_dir(names, files, out_dir)
    start_server(worker_count(workers))  # the workers' imports overlap loading the models here
    shapes = check_models(models)
    wanted = {(name, str(f)) for name in names for f in files}
    recorded = {(s.model, s.file): s for s in read_csv(csv_file)} if resume else {}  # one row per pair
    earlier = [score for key, score in recorded.items() if key in wanted]
    log = CsvLog(csv_file, append=resume) if csv_file else None
    console = Console(stderr=True, soft_wrap=True)

    def on_result(score: FileScore) -> None:
        progress.advance(task)
        if log:
            log.write(score)

    try:
        with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            task = progress.add_task("scoring", total=len(wanted), completed=len(earlier))
            done = frozenset((s.model, s.file) for s in earlier)
            scores = earlier + score_files(models, files, workers, device, out_dir, on_result, done, check=False)
    finally:
        if log:
            log.close()
    order = {name: i for i, name in enumerate(names)}
    summaries = sorted(summarise(scores), key=lambda s: order.get(s.name, len(order)))
    for s in summaries:
        s.latent_dim, s.atoms = shapes.get(s.name, (None, None))
    if plot:
        from .plots import plot_scores

        plot_scores(scores, plot)
    for s in summaries:
        for file, reason in s.failures:
            console.print(f"[yellow]not scored[/] ({escape(s.name)}) {escape(file)}: {escape(reason)}")
    if as_json:
        print(json.dumps({"models": [_summary_json(s) for s in summaries]}))
    else:
        stdout_console().print(summary_table(summaries))
    return summaries


def _summary_json(summary: ModelSummary) -> dict:
    data = {"name": summary.name, "files": summary.files, "failed": summary.failed}
    for metric in METRIC_NAMES:
        data[metric] = None if math.isnan(summary.mean[metric]) else summary.mean[metric]
        data[f"{metric}_ci95"] = None if math.isnan(summary.ci95[metric]) else summary.ci95[metric]
    data["failures"] = [{"file": f, "reason": r} for f, r in summary.failures]
    return data
