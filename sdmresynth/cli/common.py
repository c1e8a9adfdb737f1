"""What the commands share: common options, notices, the single-file progress bar, and the SOURCE... TARGET pattern
of resynth and enhance."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from ..errors import UserError

DEVICE = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                      help="Where the model runs.")
MODEL = click.option("--model", "-m", "model_name", default="sdm-vae", show_default=True,
                     help="A shipped model's name (see `sdmresynth models`) or a checkpoint path.")
WORKERS = click.option("--workers", type=click.IntRange(0), default=1, show_default=True,
                       help="Worker processes for several inputs (0: one per CPU), each on one thread.")
THREADS = click.option("--threads", type=click.IntRange(0), help="CPU threads of this process (0: torch's default, "
                       "every core).  [default: the cores other work is not using now: all on an idle machine, fewer "
                       "on a busy one]")

REFINE = click.option("--refine-steps", type=click.IntRange(0), help="Refine each frame's code by this many gradient "
                      "steps on its ELBO at encode time (0: the encoder's one pass).  [default: as the model ships]")
KEEP_RATE = click.option("--keep-rate", is_flag=True, help="Write at the input's sample rate instead of 16 kHz.")
FLOAT = click.option("--float", "floating", is_flag=True, help="Write 32-bit float samples (.wav or .aiff): nothing "
                     "clips, whatever the level.")


def level_option(default: str, what: str) -> Callable:
    """--level peak|rms|as-is, with this command's default and its meaning."""
    return click.option("--level", type=click.Choice(["peak", "rms", "as-is"]), default=default, show_default=True,
                        help=f"The output's level: {what}")


def set_threads(threads: int | None) -> None:
    """Use `threads` CPU threads in this process (None: the free cores; 0: leave torch's default)."""
    if threads != 0:
        import torch

        from ..workers import free_cores

        torch.set_num_threads(threads or free_cores())


def print_notices(notices: list[str]) -> None:
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


def is_batch(sources: tuple[Path, ...]) -> bool:
    """Several inputs, or a folder: the batch mode of a command."""
    return len(sources) > 1 or sources[0].is_dir()


def same_file(output: Path, source: Path) -> bool:
    """Whether writing output would replace source."""
    return output.exists() and source.exists() and output.resolve() == source.resolve()


@contextmanager
def block_progress(steps: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, on a terminal only, for one file's long work: yields on_block(done, total)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(TextColumn(steps), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(steps, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def audio_to_audio(job: Callable, paths: tuple[str, ...], model_name: str, device: str, workers: int,
                   overwrite: bool, steps: str, refine_steps: int | None = None, **options) -> None:
    """SOURCE... TARGET commands (resynth, enhance): one file (with a progress bar of `steps`), or a batch over files
    and folders."""
    from ..inference.model import load_model
    from ..io.outputs import batch_folder, check_audio_target, single_output

    if len(paths) < 2:
        raise UserError("give SOURCE... TARGET")
    sources, target = tuple(Path(p) for p in paths[:-1]), paths[-1]
    if is_batch(sources):
        from .batch import run_batch

        run_batch(job, list(sources), batch_folder(target), ".wav", model_name, device, workers,
                  refine_steps=refine_steps, **options)
        return
    source = sources[0]
    check_audio_target(target, options["output"].floating)
    output = single_output(source, target, ".wav")
    if not overwrite and same_file(output, source):
        raise UserError(f"{output}: is the input file; pass --overwrite to replace it")
    loaded = load_model(model_name, device, refine_steps)
    with block_progress(steps) as on_block:
        notices, summary = job(loaded, source, output, **options, on_block=on_block)
    print_notices(notices)
    click.echo(f"wrote {output} ({summary['seconds']:.2f} s, model {loaded.name})", err=True)
