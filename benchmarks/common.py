"""Shared helpers for the benchmarks and experiments: paths, the machine, a results table or JSON, real speech."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TRAIN_LIST = SHARED / "splits" / "train.txt"
TEST_LIST = SHARED / "splits" / "test.txt"
FALLBACK_CLIPS = sorted((ROOT / "tests" / "data").glob("*.wav")) + [ROOT / "examples" / "speech.wav"]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}"


def result(title: str, rows: list[dict], **extra) -> dict:
    """What a benchmark measured: its title, rows of figures and any figures beside them."""
    return {"benchmark": title, "rows": rows, **extra}


def report(measured: dict, quick: bool = False, as_json: bool = False) -> None:
    """Print a benchmark's result as an aligned table (or as one JSON object)."""
    if as_json:
        print(json.dumps({**measured, "machine": machine(), "quick": quick}))
        return
    title, rows = measured["benchmark"], measured["rows"]
    extra = {k: v for k, v in measured.items() if k not in ("benchmark", "rows")}
    print(f"{title}  ({machine()}{', quick mode' if quick else ''})")
    columns = list(dict.fromkeys(key for row in rows for key in row))  # every row's, in order of appearance
    widths = [max(len(c), *(len(_fmt(r.get(c, "-"))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(_fmt(row.get(c, "-")).ljust(w) for c, w in zip(columns, widths)))
    for key, value in extra.items():
        print(f"{key}: {_fmt(value)}")


def main(run) -> None:
    """Run one benchmark from the command line, `python -m benchmarks.perf.NAME [--quick] [--json]`: run(quick) -> its
    result, printed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI: numbers are not meaningful")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    report(run(args.quick), args.quick, args.json)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def speech_files(limit: int | None = None) -> list[Path]:
    """Real speech: the shared train split when present, else the clips committed in the repository."""
    if TRAIN_LIST.is_file():
        from sdmresynth.io.corpus import read_list

        files = read_list(TRAIN_LIST)
    else:
        files = FALLBACK_CLIPS
    return files[:limit] if limit else files


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
