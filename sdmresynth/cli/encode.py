"""`sdmresynth encode`: the sparse codes of recordings, written as .npz files, summarised or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from .common import (DEVICE, MODEL, REFINE, THREADS, WORKERS, block_progress, is_batch, print_notices, same_file,
                     set_threads)


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(), help="The .npz to write (default: SOURCE with suffix .codes.npz, "
              "next to it), or a folder to write SOURCE.codes.npz into (an existing folder, or a name ending in /, "
              "created if missing). Several inputs or a folder input need a folder (default: next to each input).")
@click.option("--plot", type=click.Path(path_type=Path), help="Also draw spectrograms and code activity to this PNG "
              "(needs matplotlib).")
@MODEL
@REFINE
@DEVICE
@WORKERS
@THREADS
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
def encode(sources: tuple[Path, ...], output: str | None, plot: Path | None, model_name: str,
           refine_steps: int | None, device: str, workers: int, threads: int, as_json: bool) -> None:
    """Write the sparse codes of SOURCES (files or folders) to .npz files and summarise them."""
    import json

    from ..inference.files import encoding_job
    from ..io.outputs import batch_folder, single_output

    set_threads(threads)
    if is_batch(sources):
        if plot:
            raise UserError("--plot draws one file: give a single input")
        from .batch import run_batch

        run_batch(encoding_job, list(sources), batch_folder(output), ".codes.npz", model_name, device, workers,
                  as_json, refine_steps)
        return
    source = sources[0]
    target = single_output(source, output, ".codes.npz")
    if target.suffix.lower() != ".npz":  # decode, numpy and people expect the suffix of what is inside
        raise UserError(f"{target}: codes are written as an .npz archive: name the output OUT.npz, or a folder DIR/")
    if same_file(target, source):
        raise UserError(f"{target}: refusing to overwrite the input")
    summary = _encode_one(source, target, plot, model_name, device, refine_steps)
    click.echo(json.dumps(summary)) if as_json else print_summary(summary)


def _encode_one(source: Path, target: Path, plot: Path | None, model_name: str, device: str,
                refine_steps: int | None) -> dict[str, Any]:
    """Encode one file (and draw it); its summary."""
    from ..inference.files import encoding_job
    from ..inference.model import load_model

    if plot:
        from ..evaluation.plots import require_matplotlib

        require_matplotlib(plot)
    loaded = load_model(model_name, device, refine_steps)
    with block_progress("encoding blocks of 33 s") as on_block:
        notices, summary = encoding_job(loaded, source, target, on_block)
    print_notices(notices)
    if plot:
        from ..evaluation.plots import plot_encoding

        plot_encoding(loaded, source, plot)
        summary["plot"] = str(plot)
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """A short human-readable report of an encoding."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True)
    console.print(f"[bold]{escape(summary['file'])}[/] -> {escape(summary['output'])}")
    console.print(f"model {summary['model']} ({summary['model_type']}): {summary['frames']} frames "
                  f"({summary['seconds']} s) x {summary['atoms']} atoms, latent L = {summary['latent_dim']}")
    console.print(f"mean Hoyer sparsity: {summary['hoyer']:.3f} (0 = dense, 1 = one active atom per frame)")
    tops = ", ".join(f"{t['atom']} ({t['mean_abs']:.2f})" for t in summary["top_atoms"])
    console.print(f"most active atoms (mean |code|): {tops}")
    if "plot" in summary:
        console.print(f"picture: {escape(summary['plot'])}")
