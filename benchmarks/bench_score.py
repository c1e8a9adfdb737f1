"""Scoring throughput: files per second with 1 and 2 worker processes (pesq and pystoi are the floor).

    python benchmarks/bench_score.py [--quick] [--json]
"""

from __future__ import annotations

from common import TEST_LIST, Timer, parse, report, speech_files

from sdmresynth.data import read_list
from sdmresynth.scoring import score_files


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    files = read_list(TEST_LIST) if TEST_LIST.is_file() else speech_files()
    files = files[:4] if args.quick else files[:40]
    rows = []
    for workers in (1, 2):
        with Timer() as t:
            scores = score_files(["sdm-vae"], files, workers=workers)
        rows.append({"workers": workers, "files": len(scores), "seconds": t.seconds,
                     "files_per_s": len(scores) / t.seconds})
    report("scoring throughput", rows, args, speedup_2_vs_1=rows[1]["files_per_s"] / rows[0]["files_per_s"])


if __name__ == "__main__":
    main()
