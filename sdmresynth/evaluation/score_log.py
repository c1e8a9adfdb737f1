"""The per-file score table of a scoring run (CSV): rows appended as files finish, so that an interrupted run keeps
its work and a resumed one continues it; finished work is never replaced unless asked."""

from __future__ import annotations

import csv
from pathlib import Path

from ..dsp.metrics import METRIC_NAMES
from ..errors import UserError
from .scores import FileScore

CSV_COLUMNS = ["model", "file", *METRIC_NAMES, "error"]


def read_scores(path: Path) -> list[FileScore]:
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
        raise UserError(f"{path}: not a score table of sdmresynth ({error}); give a new file", parameters=("csv",)
                        ) from None
    return scores


class ScoreLog:
    """Per-file rows appended to a CSV file as they come. `resume` continues the file an earlier run wrote;
    otherwise a file that already holds rows is refused unless `overwrite` (then it is started afresh)."""

    def __init__(self, path: Path, resume: bool = False, overwrite: bool = False) -> None:
        if not path.parent.is_dir():
            raise UserError(f"{path}: output directory {path.parent} does not exist")
        held = path.is_file() and path.stat().st_size > 0
        if held and not resume and not overwrite:
            raise UserError(f"{path}: already holds the scores of an earlier run: resume it, overwrite it, or write "
                            "another file", parameters=("resume", "overwrite", "csv"))
        fresh = not (held and resume)
        torn = not fresh and not path.read_bytes().endswith(b"\n")  # a run killed mid-row
        try:
            self.handle = open(path, "w" if fresh else "a", newline="", encoding="utf-8")
        except OSError as error:
            raise UserError(f"{path}: cannot write ({error.strerror or error})") from None
        if torn:
            self.handle.write("\n")
        self.writer = csv.writer(self.handle)
        if fresh:
            self.writer.writerow(CSV_COLUMNS)
            self.handle.flush()

    def write(self, score: FileScore) -> None:
        """Append one row and flush it to the file."""
        self.writer.writerow([score.model, score.file, *(score.metrics.get(m, "") for m in METRIC_NAMES), score.error])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
