"""The `sdmresynth` command line: thin commands that parse, call the library and print.

Heavy imports (torch, numpy, scipy) happen inside the commands so that `--help` answers fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .errors import UserError

DEVICE = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                      help="Where the model runs.")
MODEL = click.option("--model", "-m", "model_name", default="sdm-vae", show_default=True,
                     help="A shipped model's name (see `sdmresynth models`) or a checkpoint path.")


class FriendlyGroup(click.Group):
    """Turns UserError into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="sdmresynth")
def main() -> None:
    """Speech analysis-resynthesis with sparse variational autoencoders (SDM-VAE)."""


@main.command()
@click.option("--data", type=click.Path(path_type=Path), help="Directory of audio (searched recursively; "
              "split by speaker = parent folder).")
@click.option("--train", "train_lists", multiple=True, type=click.Path(path_type=Path),
              help="Split list of training files (paths relative to the list). Repeatable.")
@click.option("--val", "val_lists", multiple=True, type=click.Path(path_type=Path),
              help="Split list of validation files. Repeatable.")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Checkpoint to write.")
@click.option("--model-type", type=click.Choice(["vae", "sdm-vae", "vsc"]), default="sdm-vae", show_default=True)
@click.option("--latent-dim", "-L", type=click.IntRange(1), default=64, show_default=True)
@click.option("--dictionary", type=click.Choice(["identity", "dct", "learned"]), default="dct", show_default=True)
@click.option("--atoms", "-K", type=click.IntRange(1), help="Dictionary size K (default: L).")
@click.option("--hidden-dim", type=click.IntRange(1), default=128, show_default=True)
@click.option("--input-transform", type=click.Choice(["power", "log"]), default="power", show_default=True,
              help="Encoder input: the power spectrogram (paper) or its log.")
@click.option("--standardise-input", is_flag=True, help="Standardise each encoder input bin with training-set "
              "mean and std (stored in the model).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True,
              help="VSC: prior spike probability (lower is sparser).")
@click.option("--pseudo-inputs", type=click.IntRange(0), default=10, show_default=True,
              help="VSC: learned pseudo-inputs of the prior (0: fixed N(0, 1) slab, closed-form KL).")
@click.option("--selector-sharpness", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True,
              help="VSC: c in the relaxed selector sigmoid(c (eta + gamma - 1)).")
@click.option("--slab-warmup", type=(click.IntRange(0), click.IntRange(0)), default=(10, 20), show_default=True,
              help="VSC: epochs START END over which the slab is phased in (0 0: no warm-up).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=128, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=20, show_default=True)
@click.option("--max-epochs", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--grad-clip", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Clip the global gradient norm to this (0: off, as the paper).")
@click.option("--threads", type=click.IntRange(0), default=0, help="CPU threads (0: torch's default, all cores).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where frame tensors are cached "
              "(default ~/.cache/sdmresynth or $SDMRESYNTH_CACHE).")
@click.option("--no-cache", is_flag=True, help="Do not cache frame tensors.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run that writes --out.")
@DEVICE
def train(data: Path | None, train_lists: tuple[Path, ...], val_lists: tuple[Path, ...], out: Path, threads: int,
          cache_dir: Path | None, no_cache: bool, resume: bool, device: str, **settings) -> None:
    """Train a VAE, SDM-VAE or VSC with the paper's protocol (Adam, early stopping on validation loss)."""
    from rich.console import Console

    from .data import default_cache_dir
    from .training_cli import configs_from_options, gather_files, run_training

    model_config, train_config = configs_from_options(settings)
    files = gather_files(data, train_lists, val_lists)
    sources = ({"train": [str(p) for p in train_lists], "val": [str(p) for p in val_lists]} if train_lists
               else {"train": [f"speaker split of {data}"], "val": [f"speaker split of {data}"]})
    cache = None if no_cache else (cache_dir or default_cache_dir())
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    run_training(model_config, train_config, files, sources, out, device, threads, resume, cache,
                 Console(soft_wrap=True, quiet=not main_process))


def _print_notices(notices: list[str]) -> None:
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


WORKERS = click.option("--workers", type=click.IntRange(0), default=1, show_default=True,
                       help="Worker processes for several inputs (0: one per CPU).")


def _is_batch(sources: tuple[Path, ...]) -> bool:
    return len(sources) > 1 or sources[0].is_dir()


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path), help="The .npz to write (default: SOURCE with "
              "suffix .codes.npz); with several inputs or a folder, the folder to write into (default: next to each).")
@click.option("--plot", type=click.Path(path_type=Path), help="Also draw spectrograms and code activity to this PNG "
              "(needs matplotlib: pip install sdmresynth[plot]).")
@MODEL
@DEVICE
@WORKERS
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
def encode(sources: tuple[Path, ...], output: Path | None, plot: Path | None, model_name: str, device: str,
           workers: int, as_json: bool) -> None:
    """Write the sparse codes of SOURCES (files or folders) to .npz files and summarise them."""
    import json

    from .api import load_model
    from .encoding_cli import encode_file, print_summary

    if _is_batch(sources):
        if plot:
            raise UserError("--plot draws one file: give a single input")
        from .batch_cli import run_batch

        run_batch(encode_file, list(sources), output, ".codes.npz", model_name, device, workers, as_json)
        return
    source = sources[0]
    output = output or source.with_name(source.stem + ".codes.npz")
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise UserError(f"{output}: refusing to overwrite the input")
    if plot:
        from .plots import require_matplotlib

        require_matplotlib()
    loaded = load_model(model_name, device)
    notices, summary = encode_file(loaded, source, output)
    _print_notices(notices)
    if plot:
        from .plots import plot_encoding

        plot_encoding(loaded, source, plot)
        summary["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        print_summary(summary)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@MODEL
@DEVICE
@WORKERS
@click.option("--keep-rate", is_flag=True, help="Write at the input's sample rate instead of 16 kHz.")
@click.option("--overwrite", is_flag=True, help="Allow TARGET to be SOURCE.")
def resynth(paths: tuple[Path, ...], model_name: str, device: str, workers: int, keep_rate: bool,
            overwrite: bool) -> None:
    """Resynthesise SOURCE... into TARGET: STFT, encode, decode, inverse STFT with the input's phase.

    One input file: TARGET is the output file. Several inputs or a folder: TARGET is a folder, and the
    folder structure below each input folder is kept.
    """
    from .api import load_model
    from .encoding_cli import resynthesise_job

    if len(paths) < 2:
        raise UserError("give SOURCE... TARGET")
    sources, target = paths[:-1], paths[-1]
    if _is_batch(sources):
        from .batch_cli import run_batch

        run_batch(resynthesise_job, list(sources), target, ".wav", model_name, device, workers, keep_rate=keep_rate)
        return
    source = sources[0]
    if target.exists() and source.exists() and target.resolve() == source.resolve() and not overwrite:
        raise UserError(f"{target}: is the input file; pass --overwrite to replace it")
    loaded = load_model(model_name, device)
    notices, summary = resynthesise_job(loaded, source, target, keep_rate)
    _print_notices(notices)
    click.echo(f"wrote {target} ({summary['seconds']:.2f} s, model {loaded.name})", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def models(as_json: bool) -> None:
    """List the shipped models with their test-split scores."""
    import json

    from .pretrained import read_index

    index = read_index()
    if as_json:
        click.echo(json.dumps(index))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title="shipped models (test split scores)", box=box.SIMPLE_HEAD, pad_edge=False, padding=0,
                  collapse_padding=True)
    for column in ("name", "type", "L", "K", "params", "pesq_wb", "pesq_nb", "stoi", "hoyer"):
        table.add_column(column, justify="left" if column in ("name", "type") else "right",
                         no_wrap=column != "name", overflow="fold", min_width=20 if column == "name" else None)
    for name, info in sorted(index["models"].items()):
        scores = info.get("test", {})
        table.add_row(name, model_type_label(info), str(info["latent_dim"]), str(info["atoms"]),
                      f"{info['params'] / 1000:.0f}k",
                      *(f"{scores[m]:.2f}" if m in scores else "-" for m in ("pesq_wb", "pesq_nb", "stoi", "hoyer")))
    console = Console()
    console.print(table)
    for alias, name in sorted(index["aliases"].items()):
        console.print(f"alias: {alias} = {name}", soft_wrap=True)


def model_type_label(info: dict) -> str:
    """"SDM dct", "VSC a=0.2", "VAE": the model type with what tells its variants apart."""
    if info.get("dictionary"):
        return f"SDM {info['dictionary']}"
    if info.get("alpha") is not None:
        return f"VSC a={info['alpha']:g}"
    return info["model_type"].upper()


@main.command()
@click.option("--model", "-m", "model_names", multiple=True, default=("sdm-vae",), show_default=True,
              help="Model name or checkpoint path; repeatable; `all` = every shipped model.")
@click.option("--data", type=click.Path(path_type=Path), help="Directory of audio (searched recursively).")
@click.option("--list", "list_file", type=click.Path(path_type=Path), help="Split list (paths relative to it).")
@click.option("--workers", type=click.IntRange(0), default=0, help="Worker processes (0: one per CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the per-model summaries.")
@click.option("--csv", "csv_file", type=click.Path(path_type=Path), help="Write per-file rows to this CSV "
              "(appended as files finish).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run recorded in --csv: scored files are kept.")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Also write each resynthesis here.")
@click.option("--report", type=click.Path(path_type=Path), help="Write the Table-1 results page (docs/results.md).")
@click.option("--plot", type=click.Path(path_type=Path), help="Draw per-model metric distributions to this PNG "
              "(needs matplotlib).")
@DEVICE
def score(model_names, data, list_file, workers, as_json, csv_file, resume, out_dir, report, plot, device) -> None:
    """Score models on a test set: PESQ (wb, nb), STOI, ESTOI, SI-SDR and Hoyer sparsity, like Table 1."""
    from .scoring_cli import run_scoring

    if plot:
        from .plots import require_matplotlib

        require_matplotlib()
    summaries = run_scoring(list(model_names), data, list_file, workers, as_json, csv_file, out_dir, device, plot,
                            resume)
    if report:
        from .report import write_report

        write_report(report, summaries, (list_file or data).as_posix())


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The shipped name, e.g. sdm-vae-dct-l64-k64.")
@click.option("--eval", "eval_sets", type=click.Path(path_type=Path), multiple=True, required=True,
              help="Split list or directory to score it on; repeatable; the first is the test split.")
@click.option("--alias", "aliases", multiple=True, help="Also answer to this name (e.g. sdm-vae). Repeatable.")
@click.option("--notes", default="", help="Free text for the top of the model card (what it is, why these settings).")
@click.option("--workers", type=click.IntRange(0), default=0, help="Scoring processes (0: one per CPU).")
def publish(checkpoint: Path, name: str, eval_sets, aliases, notes: str, workers: int) -> None:
    """(Maintainers) Ship CHECKPOINT in pretrained/ with a model card and its test-split scores."""
    from .publish import publish as publish_model

    results = publish_model(checkpoint, name, list(eval_sets), aliases, notes, workers)
    for eval_set, summary in results.items():
        click.echo(f"{name} on {eval_set}: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.mean.items()))


if __name__ == "__main__":
    sys.exit(main())
