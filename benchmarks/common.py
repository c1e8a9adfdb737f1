"""Shared helpers for the benchmarks: options, a results table, JSON output, real speech frames."""

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


def parse(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI: numbers are not meaningful")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return parser.parse_args()


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}"


def report(title: str, rows: list[dict], args: argparse.Namespace, **extra) -> None:
    """Print rows as an aligned table (or everything as JSON)."""
    if args.json:
        print(json.dumps({"benchmark": title, "machine": machine(), "quick": args.quick, "rows": rows, **extra}))
        return
    print(f"{title}  ({machine()}{', quick mode' if args.quick else ''})")
    columns = list(dict.fromkeys(key for row in rows for key in row))  # every row's, in order of appearance
    widths = [max(len(c), *(len(_fmt(r.get(c, "-"))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(_fmt(row.get(c, "-")).ljust(w) for c, w in zip(columns, widths)))
    for key, value in extra.items():
        print(f"{key}: {_fmt(value)}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def speech_files(limit: int | None = None) -> list[Path]:
    """Real speech: the shared train split when present, else the clips committed in the repository."""
    if TRAIN_LIST.is_file():
        from sdmresynth.data import read_list

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
