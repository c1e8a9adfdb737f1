"""Training from the frame store at scale: peak memory, throughput and store build time for corpora made of the
shared train split listed 1x, 4x and 12x under different names (about 46 minutes, 3 and 9 hours).

Memory is the peak over the whole process tree (the training process and its workers) of the memory the kernel
cannot drop: anonymous plus shared (RssAnon + RssShmem in /proc/PID/status), sampled every 20 ms; the file pages of
the memory-mapped store are the page cache's and do not count. Throughput is the frames per second of an epoch of
`sdmresynth train` (the L = 64, K = 64 SDM-VAE, one thread) from the store against the in-memory loop (--no-cache):
runs of each alternate and each side's fastest epoch counts, since a shared machine's speed drifts by more than the
difference measured (one-epoch runs in a row gave 0.76x to 1.02x for the same code). On the CPU or, with
--device cuda, on a GPU (batches through pinned memory and the prefetch thread).
Build times are those of `sdmresynth train --build-only` (which starts the store's workers while it imports torch),
each the build's own seconds from the store's manifest.

    python -m benchmarks.perf.scale [--copies 1 4 12] [--build-workers 1 2] [--build-rounds 3] [--device cuda]
                                     [--train-list L] [--frame-precision bfloat16] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..common import FALLBACK_CLIPS, TRAIN_LIST, report, result

def corpus(folder: Path, files: list[Path], copies: int) -> Path:
    """A list naming every file `copies` times, each copy under another name (a symbolic link)."""
    lines = []
    for copy in range(copies):
        for source in files:
            link = folder / f"copy{copy}" / source.parent.name / source.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(source)
            lines.append(str(link.relative_to(folder)))
    listing = folder / f"corpus-{copies}x.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def _tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = [int(c) for c in children.read_text().split()]
    except OSError:
        return [pid]
    return [pid] + [p for kid in kids for p in _tree(kid)]


def _unevictable_kb(pid: int) -> int:
    total = 0
    for process in _tree(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        total += sum(int(v) for v in re.findall(r"^Rss(?:Anon|Shmem):\s+(\d+) kB", status, re.M))
    return total


def run_measured(command: list[str]) -> tuple[str, float, float]:
    """Run command; its output, wall seconds and the peak anonymous + shared memory of its process tree (MB)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _unevictable_kb(process.pid))
            time.sleep(0.02)
        output.seek(0)
        text = output.read()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{text[-2000:]}")
    return text, time.perf_counter() - started, peak / 1024


def train_epoch(listing: Path, val: Path, cache: Path | None, out: Path, device: str, precision: str,
                epochs: int = 1) -> dict:
    """`epochs` epochs of sdmresynth train: peak memory, and frames per second of the fastest epoch (the one least
    disturbed by whatever else the machine runs)."""
    storage = ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    text, seconds, peak = run_measured([
        sys.executable, "-m", "sdmresynth.cli", "train", "--train", str(listing), "--val", str(val), "--out", str(out),
        "-L", "64", "-K", "64", "--max-epochs", str(epochs), "--threads", "1", "--workers", "1", "--device", device,
        "--frame-precision", precision, "--overwrite", *storage])  # the state of the run before is not kept
    frames = int(re.search(r"train: \d+ files, (\d+) frames", text).group(1))
    epoch_seconds = min(float(seconds) for seconds in re.findall(r"^epoch +\d+ .* ([\d.]+)s$", text, re.M))
    out.unlink()
    epoch_seconds = max(epoch_seconds, 0.05)  # printed to 0.1 s: a tiny quick-mode epoch may print 0.0
    return {"frames": frames, "peak_mb": round(peak), "frames_per_s": round(frames / epoch_seconds),
            "run_seconds": round(seconds, 1)}


def _best(runs: list[dict]) -> dict:
    """The fastest run's numbers, with the highest peak memory of all of them."""
    return max(runs, key=lambda run: run["frames_per_s"]) | {"peak_mb": max(run["peak_mb"] for run in runs)}


def build_store(listing: Path, val: Path, cache: Path, workers: int, precision: str) -> float:
    """Seconds that `sdmresynth train --build-only` takes to build the store of `listing`, from the store's manifest:
    the build itself, not the command's start-up (during which the command starts its store workers)."""
    from sdmresynth.io.corpus import read_list
    from sdmresynth.training.features import TRIM_TOP_DB
    from sdmresynth.dsp.stft import StftConfig
    from sdmresynth.training.framestore.layout import store_key

    subprocess.run([sys.executable, "-m", "sdmresynth.cli", "train", "--build-only", "--train", str(listing), "--val",
                    str(val), "--cache-dir", str(cache), "--workers", str(workers), "--frame-precision", precision],
                   capture_output=True, text=True, check=True)
    return build_seconds(cache / f"store-{store_key(read_list(listing), StftConfig(), TRIM_TOP_DB, precision)}")


def build_seconds(store: Path) -> float:
    """The seconds a store's build took, from its manifest."""
    seconds = json.loads((store / "manifest.json").read_text())["build_seconds"]
    return max(seconds, 0.005)  # kept to 0.01 s: a tiny quick-mode build may read 0.0


def build_times(listing: Path, val: Path, folder: Path, count: int, workers: list[int], precision: str,
                rounds: int) -> dict:
    """Seconds to build the store of `listing` with each number of workers, and its size. With several rounds the
    worker counts alternate build by build (a fresh cache each) and the medians count: the 1-to-2 speed-up is the
    median of the rounds' own, with its lowest and highest."""
    from sdmresynth.training.framestore.store import cache_size

    times: dict[int, list[float]] = {n: [] for n in workers}
    for _ in range(rounds):
        for n in workers:
            cache = folder / f"cache-{count}x-{n}w"
            subprocess.run(["rm", "-rf", str(cache)], check=True)
            times[n].append(build_store(listing, val, cache, n, precision))
    row = {"store_mb": round(cache_size(folder / f"cache-{count}x-{workers[0]}w") / 1e6)}
    row |= {f"build_{n}_workers_s": round(statistics.median(t), 2) for n, t in times.items()}
    if {1, 2} <= times.keys():
        speed_ups = [one / two for one, two in zip(times[1], times[2])]
        row["build_speed_up"] = round(statistics.median(speed_ups), 2)
        if rounds > 1:
            row["build_speed_up_range"] = f"{min(speed_ups):.2f}-{max(speed_ups):.2f}"
    return row


def training(listing: Path, val: Path, cache: Path, out: Path, args: argparse.Namespace, compare: bool) -> dict:
    """An epoch from the store (peak memory, frames per second); with `compare`, alternating runs from the store
    and from memory, each side's fastest epoch counting."""
    row = {}
    if compare:
        runs = [train_epoch(listing, val, source, out, args.device, args.frame_precision, args.epochs)
                for _ in range(args.rounds) for source in (cache, None)]
        store, memory = (_best(runs[0::2]), _best(runs[1::2]))
        row |= {"memory_peak_mb": memory["peak_mb"], "memory_frames_per_s": memory["frames_per_s"],
                "store_vs_memory": round(store["frames_per_s"] / memory["frames_per_s"], 2)}
    else:
        store = train_epoch(listing, val, cache, out, args.device, args.frame_precision)
    return row | {"frames": store["frames"], "hours": round(store["frames"] * 256 / 16000 / 3600, 2),
                  "store_peak_mb": store["peak_mb"], "store_frames_per_s": store["frames_per_s"]}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 12])
    parser.add_argument("--build-workers", type=int, nargs="+", default=[1, 2], help="store builds to time")
    parser.add_argument("--build-rounds", type=int, default=3,
                        help="builds of each worker count, alternating (the medians count; one build varies by +-25 %%)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run of the store-vs-memory comparison")
    parser.add_argument("--rounds", type=int, default=2, help="alternating store and memory runs of that comparison")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the training epochs run")
    parser.add_argument("--train-list", type=Path, default=TRAIN_LIST, help="the files a corpus copy lists")
    parser.add_argument("--frame-precision", default="float32", choices=["float32", "bfloat16"],
                        help="how the store keeps the frames (both sides of the store-vs-memory comparison use it)")
    parser.add_argument("--build-only", action="store_true", help="time the store builds alone (no training)")
    parser.add_argument("--quick", action="store_true", help="a few clips, for CI: numbers are not meaningful")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    """The rows of every corpus size, and the targets."""
    from sdmresynth.io.corpus import read_list

    files = FALLBACK_CLIPS if args.quick or not args.train_list.is_file() else read_list(args.train_list)
    copies = [1, 2] if args.quick else args.copies
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        val = corpus(folder / "val", files[:2], 1)
        for count in copies:
            listing = corpus(folder, files, count)
            rounds = 1 if args.quick else args.build_rounds
            row = {"corpus": f"{count}x",
                   **build_times(listing, val, folder, count, args.build_workers, args.frame_precision, rounds)}
            if not args.build_only:
                cache = folder / f"cache-{count}x-{args.build_workers[-1]}w"
                row |= training(listing, val, cache, folder / "m.pt", args, compare=count == copies[0])
            rows.append(row)
            for cache in folder.glob(f"cache-{count}x-*"):
                subprocess.run(["rm", "-rf", str(cache)], check=True)
    extra = {} if args.build_only else {
        "peak_above_smallest_mb": {r["corpus"]: r["store_peak_mb"] - rows[0]["store_peak_mb"] for r in rows}}
    extra["targets"] = "peak <= 1500 MB and <= smallest + 300 MB; store >= 0.9x memory; build speed-up >= 1.7"
    return result(f"training from the frame store at scale ({args.frame_precision} frames)", rows, device=args.device,
                  frame_precision=args.frame_precision, **extra)


def run(quick: bool = False) -> dict:
    """The benchmark with its default settings (the quick ones for CI)."""
    return measure(options(["--quick"] if quick else []))


if __name__ == "__main__":
    arguments = options()
    report(measure(arguments), arguments.quick, arguments.json)
