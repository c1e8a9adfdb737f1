"""Batch evaluation: resynthesise each file with each model on worker processes, score it against its input, keep
each row in the score table as it comes, and summarise per model (Table 1)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..dsp.metrics import quality_metrics
from ..errors import UserError
from ..inference.coding import resynthesise_with_codes
from ..inference.model import cached_model, load_model
from ..io.audio import peak_level, read_audio, write_audio
from ..io.shipped import read_index, resolve_model
from ..workers import start_server, worker_count, worker_pool
from .score_log import ScoreLog, read_scores
from .scores import FileScore, ModelSummary, summarise


def score_one(model_name: str, path: str, device: str = "cpu", output: str | None = None) -> FileScore:
    """Analyse, encode, resynthesise and score one file against its peak-normalised 16 kHz input; the resynthesis
    is written to `output` if given."""
    loaded = cached_model(model_name, device)
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


def expand_models(names: Iterable[str]) -> list[str]:
    """`all` becomes every shipped model, in the index's order; each model once."""
    expanded = []
    for name in names:
        expanded.extend(read_index()["models"] if name == "all" else [name])
    return list(dict.fromkeys(expanded))


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
    for relative in _outputs(files, out_dir).values():
        for name in names:
            if os.path.realpath(Path(out_dir, name, relative)) in {os.path.realpath(f) for f in files}:
                raise UserError(f"{Path(out_dir, name, relative)}: the resyntheses' folder would overwrite this input: "
                                "give another folder", parameters=("out_dir",))


def check_outputs(outputs: dict[str, Path | None], inputs: list[Path]) -> None:
    """Refuse, before any work, an output file (by the setting that names it: csv, report, plot) that is one of the
    run's inputs or another output."""
    taken = {os.path.realpath(path): "an input" for path in inputs}
    for setting, path in outputs.items():
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in taken:
            raise UserError(f"{path}: would overwrite {taken[real]} of this run: give another file",
                            parameters=(setting,))
        taken[real] = f"the {setting} output"


def check_models(models: list[str]) -> dict[str, tuple[int, int]]:
    """Load every model once, so that an unreadable one is an error before any work starts; returns each model's
    (L, K) by its display name."""
    shapes = {}
    for name in models:
        loaded = load_model(name, "cpu")
        shapes[loaded.name] = (loaded.model.config.latent_dim, loaded.model.config.code_dim)
    return shapes


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _score(models: list[str], names: dict[str, str], files: list[Path], workers: int, device: str,
           out_dir: Path | None, done: frozenset[tuple[str, str]],
           on_result: Callable[[FileScore], None] | None) -> list[FileScore]:
    """Score the (model, file) pairs not in `done` (checked already), largest file first, so that no worker is left
    with a long file at the end."""
    outputs = _outputs(files, out_dir)
    jobs = [(m, str(f), device, str(Path(out_dir, names[m], outputs[f])) if out_dir else None)
            for m in models for f in files if (names[m], str(f)) not in done]
    jobs.sort(key=lambda job: -_size(job[1]))  # stable: each file's models stay in the given order
    workers = worker_count(workers, len(jobs))
    if workers <= 1:
        return _collect((score_one(*job) for job in jobs), on_result)
    with worker_pool(workers) as pool:
        return _collect(pool.map(score_one, *zip(*jobs), chunksize=1), on_result)


def _collect(outcomes: Iterable[FileScore], on_result: Callable[[FileScore], None] | None) -> list[FileScore]:
    results = []
    for outcome in outcomes:
        results.append(outcome)
        if on_result:
            on_result(outcome)
    return results


def score_files(models: list[str], files: list[Path], workers: int = 0, device: str = "cpu",
                out_dir: Path | None = None, on_result: Callable[[FileScore], None] | None = None) -> list[FileScore]:
    """Score every (model, file) pair in `workers` processes (0: one per CPU), after checking the out_dir and
    loading each model once, so that a bad one fails before any work."""
    names = {m: resolve_model(m)[0] for m in models}
    check_out_dir(list(names.values()), files, out_dir)
    start_server(worker_count(workers))  # the workers' imports overlap loading the models here
    check_models(models)
    return _score(models, names, files, workers, device, out_dir, frozenset(), on_result)


@dataclass(frozen=True)
class ScoringJob:
    """A scoring run: every model on every file, on `workers` processes (0: one per CPU); each resynthesis also
    written under out_dir if given; each row kept in the score table `csv` as it comes (`resume` continues the run
    it recorded, `overwrite` starts it afresh)."""

    models: list[str]
    files: list[Path]
    workers: int = 0
    device: str = "cpu"
    out_dir: Path | None = None
    csv: Path | None = None
    resume: bool = False
    overwrite: bool = False


def run_scoring(job: ScoringJob, on_start: Callable[[int, int], None] | None = None,
                on_result: Callable[[FileScore], None] | None = None) -> tuple[list[FileScore], list[ModelSummary]]:
    """Every check first, then the run: the scores (those a resumed table held first) and a summary per model, in
    the order the models were given. on_start(pairs in all, pairs already scored); on_result(each new score)."""
    if job.resume and not job.csv:
        raise UserError("resuming continues the run recorded in a score table: give it", parameters=("csv",))
    resolved = {m: resolve_model(m) for m in job.models}  # once per model: each lookup reads the index
    names = {m: name for m, (name, _) in resolved.items()}
    check_out_dir(list(names.values()), job.files, job.out_dir)
    start_server(worker_count(job.workers))  # the workers' imports overlap loading the models here
    shapes = check_models(job.models)
    wanted = {(name, str(f)) for name in names.values() for f in job.files}
    recorded = {(s.model, s.file): s for s in read_scores(job.csv)} if job.resume else {}  # one row per pair
    earlier = [score for key, score in recorded.items() if key in wanted]
    log = ScoreLog(job.csv, job.resume, job.overwrite) if job.csv else None
    if on_start:  # every check has passed
        on_start(len(wanted), len(earlier))

    def keep(score: FileScore) -> None:
        if log:
            log.write(score)
        if on_result:
            on_result(score)

    try:
        done = frozenset((s.model, s.file) for s in earlier)
        scores = earlier + _score(job.models, names, job.files, job.workers, job.device, job.out_dir, done, keep)
    finally:
        if log:
            log.close()
    order = {name: i for i, name in enumerate(names.values())}
    summaries = sorted(summarise(scores), key=lambda s: order.get(s.name, len(order)))
    for summary in summaries:
        summary.latent_dim, summary.atoms = shapes.get(summary.name, (None, None))
    return scores, summaries
