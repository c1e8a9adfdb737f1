"""How much of Table 1 is the seed: the zoo's recipe retrained with other seeds, every seed scored on the same files
in one run, and the paper's claims checked on each seed and on the seed means.

Either seed 0 is the shipped models (pretrained/NAME.pt) and other seeds come from train_zoo.sh one by one:

    SEED=1 RUNS=runs/seed1 pretrained/train_zoo.sh vae-l16 sdm-vae-dct-l16-k64 ...
    python -m benchmarks.experiments.seeds --seed 1=runs/seed1 --seed 2=runs/seed2 [--workers N] [--doc docs/seeds.md]

or every seed comes from one sweep per row (RUNS/NAME-seedN.pt), all trained alike:

    SEEDS=0,1,2 LR_DECAYS=2 RUNS=runs/table1 pretrained/train_zoo.sh vae-l16 sdm-vae-dct-l16-k64 ...
    python -m benchmarks.experiments.seeds --sweep runs/table1 [--workers N] [--doc docs/seeds.md]

(--results docs/results.md also writes the table and the claims on the seed means into the results page.)

Only models with a checkpoint or finished scores for every seed are compared. Per-file scores go to --csv-dir
(seed-N.csv), so an interrupted run resumes where it stopped, and a row scored there needs its checkpoints no more:
Table 1's sweep keeps its scores in benchmarks/experiments/table1-seeds/ (committed), so that rows trained in one
session count when their run folder is gone (the shipped seed stays in pretrained/).
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from ..common import ROOT, TEST_LIST, machine

from sdmresynth.io.atomic import write_atomically
from sdmresynth.io.corpus import read_list
from sdmresynth.dsp.metrics import METRIC_NAMES
from sdmresynth.evaluation.report import claims, paper_row, table_order, write_keeping_discussion
from sdmresynth.evaluation.scores import ModelSummary, summarise
from sdmresynth.evaluation.scoring import check_models
from sdmresynth.evaluation.score_log import read_scores

SHOWN = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "hoyer")


SWEEP_NAME = re.compile(r"^(.+)-seed(\d+)$")  # a sweep's checkpoint: NAME-seedN


@dataclass(frozen=True)
class SeedSource:
    """Where a seed's checkpoints are: folder / f"{name}{suffix}.pt"."""

    folder: Path
    suffix: str = ""

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{self.suffix}.pt"

    def names(self) -> set[str]:
        """The model names with a finished checkpoint of this seed."""
        ending = f"{self.suffix}.pt"
        return {p.name[: -len(ending)] for p in self.folder.glob(f"*{ending}")
                if not p.name.endswith(".state.pt") and (self.suffix or not SWEEP_NAME.search(p.stem))}


def seed_folders(given: list[str]) -> dict[int, SeedSource]:
    """{seed: source}, seed 0 being pretrained/ unless given."""
    folders = {0: SeedSource(ROOT / "pretrained")}
    for item in given:
        seed, _, folder = item.partition("=")
        folders[int(seed)] = SeedSource(Path(folder))
    return dict(sorted(folders.items()))


def sweep_seeds(folder: Path, csv_dir: Path) -> dict[int, SeedSource]:
    """{seed: source} of a folder of sweeps (NAME-seedN.pt): every seed any row has, there or in csv_dir's scores."""
    seeds = {int(m.group(2)) for p in folder.glob("*-seed*.pt") if (m := SWEEP_NAME.match(p.name[:-3]))}
    seeds |= {int(p.stem.removeprefix("seed-")) for p in csv_dir.glob("seed-*.csv") if p.stem[5:].isdigit()}
    return {seed: SeedSource(folder, f"-seed{seed}") for seed in sorted(seeds)}


def shape_source(sources: dict[int, SeedSource], name: str) -> Path:
    """A checkpoint of `name` to read its shape from: a seed's, else the shipped one (a seed of the same row)."""
    present = [source.path(name) for source in sources.values() if source.path(name).is_file()]
    return present[0] if present else ROOT / "pretrained" / f"{name}.pt"


def scored_names(source: SeedSource, csv: Path, files: int) -> set[str]:
    """The model names of this seed with a score for `files` files in the CSV (a finished scoring run)."""
    counts = Counter(score.model for score in read_scores(csv))
    return {stem[: len(stem) - len(source.suffix)] for stem, n in counts.items()
            if n >= files and stem.endswith(source.suffix)}


def common_models(sources: dict[int, SeedSource], csv_dir: Path, files: int, wanted: list[str] | None) -> list[str]:
    """Model names with a finished checkpoint or finished scores for every seed, in Table 1's order."""
    names = set.intersection(*(source.names() | scored_names(source, csv_dir / f"seed-{seed}.csv", files)
                               for seed, source in sources.items()))
    if wanted:
        names &= set(wanted)
    return sorted(names, key=table_order)


def score_seed(source: SeedSource, names: list[str], files: Path, csv: Path, workers: int) -> list[ModelSummary]:
    """Score the seed's checkpoints of `names` on the list (resuming the CSV; a name whose checkpoint is gone keeps
    the scores there); one summary per name."""
    present = [name for name in names if source.path(name).is_file()]
    if present:
        command = [sys.executable, "-m", "sdmresynth.cli", "score", "--list", str(files), "--csv", str(csv),
                   "--resume", "--workers", str(workers), "--json"]
        for name in present:
            command += ["--model", str(source.path(name))]
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL)  # exit 1 when a file fails: listed, not fatal
    by_stem = {source.path(name).stem: name for name in names}
    return [replace(s, name=by_stem[s.name]) for s in summarise(read_scores(csv)) if s.name in by_stem]


def over_seeds(per_seed: dict[int, dict[str, ModelSummary]], name: str) -> ModelSummary:
    """A summary whose means are the means over seeds of each seed's mean; ci95 holds the seeds' spread (max-min)."""
    runs = [seeds[name] for seeds in per_seed.values()]
    mean = {m: sum(r.mean[m] for r in runs) / len(runs) for m in METRIC_NAMES}
    spread = {m: max(r.mean[m] for r in runs) - min(r.mean[m] for r in runs) for m in METRIC_NAMES}
    return ModelSummary(name, min(r.files for r in runs), max(r.failed for r in runs), mean, spread, [])


def verdicts(lines: list[str]) -> list[bool | None]:
    """Whether each claim line of report.claims holds (None: not checked)."""
    return [None if "not checked" in line else not line.endswith("does not hold.") for line in lines]


def page(per_seed: dict[int, dict[str, ModelSummary]], names: list[str], shapes: dict, list_file: Path,
         origin: str, title: str = "Table 1 over seeds") -> str:
    """The markdown page: the table over seeds, then each claim with the seeds it holds in."""
    seeds = list(per_seed)
    rows = ["| model | L | K | " + " | ".join(f"`{m}` mean (min-max)" for m in SHOWN) + " | `pesq_wb` by seed | "
            "paper PESQ / STOI / Hoyer |", "| --- | --- | --- |" + " --- |" * (len(SHOWN) + 2)]
    means = {}
    for name in names:
        means[name] = over_seeds(per_seed, name)
        cells = []
        for metric in SHOWN:
            values = [per_seed[s][name].mean[metric] for s in seeds]
            digits = 3 if metric in ("stoi", "estoi", "hoyer") else 2
            cells.append(f"{means[name].mean[metric]:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})")
        latent, atoms = shapes.get(name, ("?", "?"))
        by_seed = " / ".join(f"{per_seed[s][name].mean['pesq_wb']:.2f}" for s in seeds)
        paper = paper_row(name)
        paper_cell = " / ".join(f"{v:.2f}" for v in paper[2]) if paper else "-"
        rows.append(f"| {name} | {latent} | {atoms} | " + " | ".join(cells) + f" | {by_seed} | {paper_cell} |")
    on_means = claims(means)
    per_seed_verdicts = [verdicts(claims(per_seed[s])) for s in seeds]
    checked = []
    for i, line in enumerate(on_means):
        held = [v[i] for v in per_seed_verdicts]
        checked.append(line if None in held else f"{line} Per seed: holds in {sum(held)} of {len(seeds)}.")
    files = min(per_seed[s][n].files for s in seeds for n in names)
    return "\n".join([
        f"# {title}",
        "",
        f"Made by `python -m benchmarks.experiments.seeds` on {date.today().isoformat()} ({machine()}): seeds "
        f"{', '.join(map(str, seeds))} of the zoo's recipe ({origin}), "
        f"each scored on the same {files} files of `{list_file.name}`. Each cell: the mean over seeds of the "
        "per-seed mean over files, and the lowest and highest seed. The paper's numbers are on TCD-TIMIT, its PESQ "
        "narrow-band (compare with `pesq_nb`), its STOI the extended one (compare with `estoi`).",
        "",
        *rows,
        "",
        "## The paper's claims on the seed means, and how many seeds they hold in",
        "",
        *checked,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", action="append", default=[], metavar="N=DIR",
                        help="checkpoints of seed N (DIR/NAME.pt); repeatable")
    parser.add_argument("--sweep", type=Path, metavar="DIR", help="every seed from DIR/NAME-seedN.pt (train_zoo.sh "
                        "with SEEDS=...), the shipped models left out")
    parser.add_argument("--model", action="append", help="only these names (default: all with every seed)")
    parser.add_argument("--list", type=Path, default=TEST_LIST, help="files to score (default: the test split)")
    parser.add_argument("--csv-dir", type=Path, default=Path("seed-scores"), help="per-file scores, per seed")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--doc", type=Path, help="write the page here (else print it)")
    parser.add_argument("--results", type=Path, metavar="PAGE", help="also write the table and the claims on the "
                        "seed means into this results page (docs/results.md), keeping its discussion")
    args = parser.parse_args()
    if args.sweep and args.seed:
        sys.exit("--sweep and --seed: give one or the other")
    folders = sweep_seeds(args.sweep, args.csv_dir) if args.sweep else seed_folders(args.seed)
    listed = len(read_list(args.list))
    names = common_models(folders, args.csv_dir, listed, args.model) if folders else []
    if len(folders) < 2 or not names:
        sys.exit("need two or more seeds with checkpoints (or, with --sweep, scores in --csv-dir) of the same names "
                 "(seed 0 and a --seed N=DIR, or --sweep DIR)")
    origin = (f"every seed from one sweep per row, {args.sweep}/NAME-seedN.pt" if args.sweep else
              "pretrained/train_zoo.sh; seed 0 = the shipped models")
    args.csv_dir.mkdir(parents=True, exist_ok=True)
    per_seed = {}
    for seed, source in folders.items():
        print(f"seed {seed}: {len(names)} models from {source.folder}", file=sys.stderr)
        summaries = score_seed(source, names, args.list, args.csv_dir / f"seed-{seed}.csv", args.workers)
        per_seed[seed] = {s.name: s for s in summaries}
        missing = [n for n in names if n not in per_seed[seed] or math.isnan(per_seed[seed][n].mean["pesq_wb"])]
        if missing:
            sys.exit(f"seed {seed}: no scores for {', '.join(missing)}")
    shapes = dict(zip(names, check_models([str(shape_source(folders, n)) for n in names]).values()))
    text = page(per_seed, names, shapes, args.list, origin)
    if args.doc:
        write_atomically(args.doc, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
    else:
        print(text)
    if args.results:
        title = "Results: Table 1 on our data, over seeds"
        lines = page(per_seed, names, shapes, args.list, origin, title).splitlines()
        write_keeping_discussion(args.results, [*lines, ""])


if __name__ == "__main__":
    main()
