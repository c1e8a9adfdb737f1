"""`sdmresynth score`: models scored on files with a progress bar, a Table-1 style summary (or JSON), the per-file
score table, the results page and a picture."""

from __future__ import annotations

import math
from pathlib import Path

import click

from ..errors import UserError
from .common import DEVICE, THREADS, set_threads


@click.command()
@click.option("--model", "-m", "model_names", multiple=True, default=("sdm-vae",), show_default=True,
              help="Model name or checkpoint path; repeatable; `all` = every shipped model.")
@click.option("--data", type=click.Path(path_type=Path), help="Directory of audio (searched recursively).")
@click.option("--list", "list_file", type=click.Path(path_type=Path), help="Split list (paths relative to it).")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="Worker processes (0: one per CPU), each on one thread.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the per-model summaries.")
@click.option("--csv", "csv_file", type=click.Path(path_type=Path), help="Write per-file rows to this CSV as files "
              "finish (a file that holds an earlier run's rows needs --resume or --overwrite).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run recorded in --csv: scored files are kept.")
@click.option("--overwrite", is_flag=True, help="Start --csv afresh even if it holds an earlier run's rows.")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Also write each resynthesis here: DIR/MODEL/ and "
              "the file's path below the inputs' common folder, as .wav.")
@click.option("--report", type=click.Path(path_type=Path), help="Write the Table-1 results page (docs/results.md).")
@click.option("--plot", type=click.Path(path_type=Path), help="Draw per-model metric distributions to this PNG "
              "(needs matplotlib).")
@DEVICE
@THREADS
def score(model_names: tuple[str, ...], data: Path | None, list_file: Path | None, workers: int, as_json: bool,
          csv_file: Path | None, resume: bool, overwrite: bool, out_dir: Path | None, report: Path | None,
          plot: Path | None, device: str, threads: int) -> None:
    """Score models on a test set: PESQ (wb, nb), STOI, ESTOI, SI-SDR and Hoyer sparsity, like Table 1.

    Files that cannot be scored are listed and the others scored; the exit status is 1 if any file failed.
    """
    from ..evaluation.scoring import ScoringJob, check_outputs, expand_models
    from ..io.corpus import files_from
    from ..io.shipped import resolve_model

    if (data is None) == (list_file is None):
        raise UserError("give exactly one of --data DIR or --list FILE")
    set_threads(threads)  # this process's, when it scores (--workers 1); worker processes have one each
    if resume and overwrite:
        raise click.UsageError("--resume continues the --csv run, --overwrite replaces it: give one of them")
    if plot:
        from ..evaluation.plots import require_matplotlib

        require_matplotlib(plot)
    files = files_from(list_file or data)
    models = expand_models(model_names)
    if not models:
        raise UserError("no models to score (none shipped?)")
    inputs = [*files, *(resolve_model(m)[1] for m in models), *([list_file] if list_file else [])]
    check_outputs({"csv": csv_file, "report": report, "plot": plot}, inputs)
    job = ScoringJob(models, files, workers, device, out_dir, csv_file, resume, overwrite)
    scores, summaries = _run(job)
    _show(scores, summaries, plot, as_json)
    if report:
        from ..evaluation.report import write_report

        write_report(report, summaries, command_line(click.get_current_context()))
    if any(s.failed for s in summaries):
        raise click.exceptions.Exit(1)


def _run(job):
    """run_scoring with a progress bar on stderr, shown once every check has passed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..evaluation.scoring import run_scoring

    progress = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True))
    task = progress.add_task("scoring", total=None)

    def start(total: int, done: int) -> None:
        progress.update(task, total=total, completed=done)
        progress.start()

    try:
        return run_scoring(job, start, lambda _: progress.advance(task))
    finally:
        if progress.live.is_started:
            progress.stop()


def _show(scores, summaries, plot: Path | None, as_json: bool) -> None:
    """The picture, the files not scored, and the summary table (or JSON)."""
    import json

    from rich.console import Console
    from rich.markup import escape

    from .console import stdout_console

    if plot:
        from ..evaluation.plots import plot_scores

        plot_scores(scores, plot)
    console = Console(stderr=True, soft_wrap=True)
    for s in summaries:
        for file, reason in s.failures:
            console.print(f"[yellow]not scored[/] ({escape(s.name)}) {escape(file)}: {escape(reason)}")
    if as_json:
        click.echo(json.dumps({"models": [_summary_json(s) for s in summaries]}))
    else:
        stdout_console().print(summary_table(summaries))


def command_line(context: click.Context) -> str:
    """The command as given: the command's name and every option or argument not left at its default."""
    import shlex

    words = ["sdmresynth", context.info_name or "score"]
    for param in context.command.params:
        value = context.params.get(param.name)
        if context.get_parameter_source(param.name) is click.core.ParameterSource.DEFAULT or value is None:
            continue
        flag = param.opts[0] if isinstance(param, click.Option) else None
        if flag and getattr(param, "is_flag", False):
            words += [flag] if value else []
            continue
        for item in value if getattr(param, "multiple", False) or param.nargs == -1 else [value]:
            text = item.as_posix() if isinstance(item, Path) else str(item)
            words += [flag, text] if flag else [text]
    return shlex.join(words)


def _cell(summary, metric: str) -> str:
    """Mean over the 95 % CI half-width, on two lines so that a table of every metric fits 120 columns."""
    mean, ci95 = summary.mean[metric], summary.ci95[metric]
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}\n±{ci95:.3f}" if not math.isnan(ci95) else f"{mean:.3f}\n± n/a"


def summary_table(summaries):
    """Models as rows, metrics as columns; names are never cut (they wrap nowhere and fold never)."""
    from rich.table import Table

    from ..dsp.metrics import METRIC_NAMES

    table = Table(title="resynthesis quality and code sparsity (mean, ± 95 % CI)")
    table.add_column("model", no_wrap=True, min_width=max((len(s.name) for s in summaries), default=5))
    for metric in METRIC_NAMES:
        table.add_column(metric, justify="right", no_wrap=True, min_width=len(metric))
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("failed", justify="right", no_wrap=True)
    for s in summaries:
        table.add_row(s.name, *(_cell(s, m) for m in METRIC_NAMES), str(s.files), str(s.failed))
    return table


def _summary_json(summary) -> dict:
    from ..dsp.metrics import METRIC_NAMES

    data = {"name": summary.name, "files": summary.files, "failed": summary.failed}
    for metric in METRIC_NAMES:
        data[metric] = None if math.isnan(summary.mean[metric]) else summary.mean[metric]
        data[f"{metric}_ci95"] = None if math.isnan(summary.ci95[metric]) else summary.ci95[metric]
    data["failures"] = [{"file": f, "reason": r} for f, r in summary.failures]
    return data
