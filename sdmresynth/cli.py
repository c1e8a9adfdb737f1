"""The `sdmresynth` command line: thin commands that parse, call the library and print.

Heavy imports (torch, numpy, scipy) happen inside the commands so that `--help` answers fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from .errors import UserError

DEVICE = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                      help="Where the model runs.")
MODEL = click.option("--model", "-m", "model_name", default="sdm-vae", show_default=True,
                     help="A shipped model's name (see `sdmresynth models`) or a checkpoint path.")
# enhance's speech prior: the best SDM-VAE prior on the validation split (docs/enhancement.md); the best model of
# speech is not the best prior, since a decoder that draws any spectrum also draws the noise
ENHANCE_PRIOR = "sdm-vae-identity-l64"


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
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Checkpoint to write (required unless "
              "--build-only).")
@click.option("--model-type", type=click.Choice(["vae", "sdm-vae", "vsc"]), default="sdm-vae", show_default=True)
@click.option("--latent-dim", "-L", type=click.IntRange(1), default=64, show_default=True)
@click.option("--dictionary", type=click.Choice(["identity", "dct", "learned"]), default="dct", show_default=True)
@click.option("--atoms", "-K", type=click.IntRange(1), help="Dictionary size K (default: L).")
@click.option("--hidden-dim", type=click.IntRange(1), default=128, show_default=True)
@click.option("--linear-skip", is_flag=True, help="Give the encoder's mean and the decoder's output a linear path "
              "besides the tanh layer (not in the paper; no shipped model uses it yet).")
@click.option("--paper-protocol", is_flag=True, help="Train with the official code's setting: raw power input, "
              "not standardised, Adam 1e-4, no gradient clipping (instead of the recipe of the shipped models).")
@click.option("--input-transform", type=click.Choice(["power", "log"]),
              help="Encoder input: the power spectrogram (paper) or its log.  [default: log; power with "
              "--paper-protocol]")
@click.option("--standardise-input/--no-standardise-input", default=None, help="Standardise each encoder input bin "
              "with training-set mean and std (stored in the model).  [default: on; off with --paper-protocol]")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True,
              help="VSC: prior spike probability (lower is sparser).")
@click.option("--pseudo-inputs", type=click.IntRange(0), default=10, show_default=True,
              help="VSC: learned pseudo-inputs of the prior (0: fixed N(0, 1) slab, closed-form KL).")
@click.option("--selector-sharpness", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True,
              help="VSC: c in the relaxed selector sigmoid(c (eta + gamma - 1)).")
@click.option("--selector-anneal", type=(click.FloatRange(min=0), click.IntRange(0)), default=(0.0, 0),
              show_default=True, metavar="C0 EPOCHS",
              help="VSC: grow c linearly from C0 to --selector-sharpness over EPOCHS epochs (0 0: constant c).")
@click.option("--slab-warmup", type=(click.IntRange(0), click.IntRange(0)), default=(10, 20), show_default=True,
              help="VSC: epochs START END over which the slab is phased in (0 0: no warm-up).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="Adam's learning rate.  [default: 1e-3; 1e-4 with --paper-protocol]")
@click.option("--batch-size", type=click.IntRange(1), default=128, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=20, show_default=True)
@click.option("--lr-decays", type=click.IntRange(0), default=0, show_default=True,
              help="When --patience epochs bring no better validation loss, go back to the best weights and go on "
              "at a tenth of the learning rate (a fresh Adam), this many times before stopping. Raising it on "
              "--resume continues a stopped run.")
@click.option("--max-epochs", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--grad-clip", type=click.FloatRange(min=0),
              help="Clip the global gradient norm to this (0: off).  [default: 2000; 0 with --paper-protocol]")
@click.option("--threads", type=click.IntRange(0), default=0, help="CPU threads (0: torch's default, all cores). "
              "Several runs at once: give each its share of the cores, as runs that each take all cores wait on each "
              "other's threads (two on two cores: each 4x slower).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where the frame store lives "
              "(default ~/.cache/sdmresynth or $SDMRESYNTH_CACHE).")
@click.option("--no-cache", is_flag=True, help="No frame store: compute the frames and hold them in memory.")
@click.option("--frame-precision", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True,
              help="How the training and validation frames are kept: bfloat16 halves the frame store on disk and in "
              "the page cache (values within 0.4 %; validation loss and PESQ measured unchanged: "
              "benchmarks/RESULTS.md section 8).")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="Processes that build the frame store, this one included (0: one per CPU).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run that writes --out.")
@click.option("--build-only", is_flag=True, help="Build the frame stores of the training and validation files and "
              "stop without training (--out is then optional): for example on each node before a torchrun launch. "
              "Add it to the training command line itself, so that the files, --cache-dir and --frame-precision "
              "are the same.")
@DEVICE
def train(data: Path | None, train_lists: tuple[Path, ...], val_lists: tuple[Path, ...], out: Path | None,
          threads: int, cache_dir: Path | None, no_cache: bool, workers: int, resume: bool, build_only: bool,
          device: str, **settings) -> None:
    """Train a VAE, SDM-VAE or VSC: the paper's protocol (Adam, batch 128, early stopping on the validation loss)
    with the recipe of the shipped models (log input standardised per bin, Adam 1e-3, gradient norm clipped at
    2000); --paper-protocol trains the official code's setting instead."""
    from rich.console import Console

    from .data import default_cache_dir
    from .stft import StftConfig
    from .training_data import gather_files, load_sets, store_workers

    if build_only and no_cache:
        raise click.UsageError("--build-only builds the frame stores, which --no-cache turns off: give one of them")
    if not build_only and out is None:
        raise click.UsageError("Missing option '--out' / '-o' (the checkpoint to write), or give --build-only")
    files = gather_files(data, train_lists, val_lists)
    sources = ({"train": [str(p) for p in train_lists], "val": [str(p) for p in val_lists]} if train_lists
               else {"train": [f"speaker split of {data}"], "val": [f"speaker split of {data}"]})
    cache = None if no_cache else (cache_dir or default_cache_dir())
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    console = Console(soft_wrap=True, quiet=not main_process)
    precision, stft_config = settings["frame_precision"], StftConfig()
    with store_workers(files, stft_config, cache, workers, precision) as builders:
        # imported with the store's workers starting (if a store is to be built): torch takes longer than they do
        from .training_cli import check_options_apply, configs_from_options, prepare_training, run_training

        context = click.get_current_context()
        given = {name for name in settings if context.get_parameter_source(name) is not ParameterSource.DEFAULT}
        check_options_apply(settings["model_type"], given)
        model_config, train_config = configs_from_options(settings)
        if build_only:
            load_sets(files, stft_config, cache, builders, precision, console)
            console.print("the frame stores are ready: the same command without --build-only trains from them")
            return
        prepared = prepare_training(model_config, train_config, files, out, device, threads, resume, cache, builders,
                                    console)
    run_training(model_config, train_config, prepared, sources, out, resume, console)


def _print_notices(notices: list[str]) -> None:
    for notice in notices:
        click.echo(f"note: {notice}", err=True)


WORKERS = click.option("--workers", type=click.IntRange(0), default=1, show_default=True,
                       help="Worker processes for several inputs (0: one per CPU).")


def _is_batch(sources: tuple[Path, ...]) -> bool:
    return len(sources) > 1 or sources[0].is_dir()


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(), help="The .npz to write (default: SOURCE with suffix .codes.npz, "
              "next to it), or a folder to write SOURCE.codes.npz into (an existing folder, or a name ending in /, "
              "created if missing). Several inputs or a folder input need a folder (default: next to each input).")
@click.option("--plot", type=click.Path(path_type=Path), help="Also draw spectrograms and code activity to this PNG "
              "(needs matplotlib: pip install sdmresynth[plot]).")
@MODEL
@DEVICE
@WORKERS
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
def encode(sources: tuple[Path, ...], output: str | None, plot: Path | None, model_name: str, device: str,
           workers: int, as_json: bool) -> None:
    """Write the sparse codes of SOURCES (files or folders) to .npz files and summarise them."""
    import json

    from .api import load_model
    from .encoding_cli import encode_file, print_summary
    from .targets import batch_folder, single_output

    if _is_batch(sources):
        if plot:
            raise UserError("--plot draws one file: give a single input")
        from .batch_cli import run_batch

        run_batch(encode_file, list(sources), batch_folder(output), ".codes.npz", model_name, device, workers,
                  as_json)
        return
    source = sources[0]
    target = single_output(source, output, ".codes.npz")
    if target.suffix.lower() != ".npz":  # decode, numpy and people expect the suffix of what is inside
        raise UserError(f"{target}: codes are written as an .npz archive: name the output OUT.npz, or a folder DIR/")
    if _same_file(target, source):
        raise UserError(f"{target}: refusing to overwrite the input")
    if plot:
        from .plots import require_matplotlib

        require_matplotlib(plot)
    loaded = load_model(model_name, device)
    notices, summary = encode_file(loaded, source, target)
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
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@MODEL
@DEVICE
@WORKERS
@click.option("--keep-rate", is_flag=True, help="Write at the input's sample rate instead of 16 kHz.")
@click.option("--overwrite", is_flag=True, help="Allow TARGET to be SOURCE.")
def resynth(paths: tuple[str, ...], model_name: str, device: str, workers: int, keep_rate: bool,
            overwrite: bool) -> None:
    """Resynthesise SOURCE... into TARGET: STFT, encode, decode, inverse STFT with the input's phase.

    As with cp: one input file and a TARGET file name writes that file, in the format its suffix names (.wav,
    .flac, .aiff: 16-bit; .ogg: Vorbis); a TARGET folder (an existing one, or a name ending in /, created if
    missing) receives SOURCE's name with .wav. Several inputs or a folder input need a folder TARGET, and the
    folder structure below each input folder is kept.
    """
    from .encoding_cli import resynthesise_job

    _audio_to_audio(resynthesise_job, paths, model_name, device, workers, overwrite, keep_rate=keep_rate)


def _same_file(output: Path, source: Path) -> bool:
    """Whether writing output would replace source."""
    return output.exists() and source.exists() and output.resolve() == source.resolve()


def _audio_to_audio(job, paths: tuple[str, ...], model_name: str, device: str, workers: int, overwrite: bool,
                    single_progress: str = "", **options) -> None:
    """SOURCE... TARGET commands (resynth, enhance): one file, or a batch over files and folders. single_progress
    names the steps of a progress bar shown for one file (the job then takes on_block(done, total))."""
    from .api import load_model
    from .targets import batch_folder, check_audio_target, single_output

    if len(paths) < 2:
        raise UserError("give SOURCE... TARGET")
    sources, target = tuple(Path(p) for p in paths[:-1]), paths[-1]
    if _is_batch(sources):
        from .batch_cli import run_batch

        run_batch(job, list(sources), batch_folder(target), ".wav", model_name, device, workers, **options)
        return
    source = sources[0]
    check_audio_target(target)
    output = single_output(source, target, ".wav")
    if not overwrite and _same_file(output, source):
        raise UserError(f"{output}: is the input file; pass --overwrite to replace it")
    loaded = load_model(model_name, device)
    if single_progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True)
        with Progress(TextColumn(single_progress), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task(single_progress, total=None)
            notices, summary = job(loaded, source, output, **options,
                                   on_block=lambda done, total: progress.update(task, completed=done, total=total))
    else:
        notices, summary = job(loaded, source, output, **options)
    _print_notices(notices)
    click.echo(f"wrote {output} ({summary['seconds']:.2f} s, model {loaded.name})", err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--model", "-m", "model_name", default=ENHANCE_PRIOR, show_default=True,
              help="The speech prior: a shipped VAE or SDM-VAE's name or a checkpoint path (the default was the best "
              "SDM-VAE prior on the validation split; docs/enhancement.md).")
@click.option("--noise-rank", type=click.IntRange(1, 513), default=8, show_default=True,
              help="Atoms R of the noise model (an NMF learned on each recording; at most the 513 frequency bins).")
@click.option("--iterations", type=click.IntRange(1), default=30, show_default=True, help="EM iterations.")
@click.option("--code-steps", type=click.IntRange(0), default=5, show_default=True,
              help="Adam steps (lr 0.02) on the codes in each iteration.")
@click.option("--wiener-exponent", type=click.FloatRange(min=0, min_open=True), default=1.5, show_default=True,
              help="Raise the final Wiener gain to this power: 1 is the posterior mean of the speech; larger "
              "removes more noise (chosen on the validation split, docs/enhancement.md).")
@click.option("--code-smoothness", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Weight of the temporal prior on the codes, lambda sum_t ||code_t - code_t-1||^2: speech spectra "
              "change slowly, the noise a speech prior can be made to draw does not (0: frames independent).")
@DEVICE
@WORKERS
@click.option("--keep-rate", is_flag=True, help="Write at the input's sample rate instead of 16 kHz.")
@click.option("--overwrite", is_flag=True, help="Allow TARGET to be SOURCE.")
def enhance(paths: tuple[str, ...], model_name: str, noise_rank: int, iterations: int, code_steps: int,
            wiener_exponent: float, code_smoothness: float, device: str, workers: int, keep_rate: bool,
            overwrite: bool) -> None:
    """Remove background noise from SOURCE... into TARGET, with no noise seen in training.

    The model's decoder is the speech prior; the noise is a rank-R NMF learned on each recording (each 33 s block
    of a longer one); a variational EM separates them (20 NMF updates on the mixture first, then ITERATIONS of a
    Wiener E-step and an M-step over codes, per-frame gains and the NMF; the codes under the model's prior and a
    temporal one, --code-smoothness), and the output is a parametric Wiener filter of the noisy STFT (the gain to
    the power --wiener-exponent; 1 gives the posterior mean of the speech) with the noisy phase. VAE and SDM-VAE
    models work (not VSC). Outputs are named as with resynth.
    """
    from .api import EnhanceConfig, load_model
    from .enhance import check_speech_prior
    from .enhancing_cli import enhance_job

    config = EnhanceConfig(noise_rank=noise_rank, iterations=iterations, code_steps=code_steps,
                           wiener_exponent=wiener_exponent, code_smoothness=code_smoothness)
    loaded = load_model(model_name, "cpu")
    check_speech_prior(loaded.model, f"model {loaded.name}")  # before any work or output
    _audio_to_audio(enhance_job, paths, model_name, device, workers, overwrite, single_progress="blocks of 33 s",
                    config=config, keep_rate=keep_rate)


@main.command()
@click.argument("codes_file", metavar="CODES.npz", type=click.Path(path_type=Path))
@click.argument("target", metavar="OUT")
@click.option("--phase-from", type=click.Path(path_type=Path), help="Reuse this recording's phase (the one that was "
              "encoded: the output then equals `resynth` of it). Without it the phase is reconstructed.")
@click.option("--keep-top", type=click.IntRange(1), help="Keep the N largest-magnitude coefficients of each frame's "
              "code, zero the rest.")
@click.option("--mute-atoms", help="Zero these atoms (0-based) in every frame, e.g. 3,17,40-42.")
@click.option("--iterations", type=click.IntRange(1), default=100, show_default=True,
              help="Fast Griffin-Lim iterations (momentum 0.99) when no --phase-from is given.")
@click.option("--model", "-m", "model_name", help="The model that made the codes (default: the one the codes file "
              "names; a checkpoint path if it is not shipped).")
@DEVICE
@click.option("--overwrite", is_flag=True, help="Allow OUT to be the --phase-from recording.")
def decode(codes_file: Path, target: str, phase_from: Path | None, keep_top: int | None, mute_atoms: str | None,
           iterations: int, model_name: str | None, device: str, overwrite: bool) -> None:
    """Turn codes that `encode` wrote (edited or not) back into sound, written to OUT (.wav, .flac, .ogg, .aiff;
    a folder receives the codes file's name with .wav).

    --keep-top and --mute-atoms edit the codes first (w for SDM-VAE, z for the VAE, the gated code for VSC).
    """
    from .decoding_cli import decode_file
    from .targets import check_audio_target, single_output

    check_audio_target(target)
    stem = codes_file.name.removesuffix(".npz").removesuffix(".codes")
    output = single_output(codes_file, target, ".wav", stem=stem)
    if phase_from and not overwrite and _same_file(output, phase_from):
        raise UserError(f"{output}: is the recording given to --phase-from; pass --overwrite to replace it")
    notices, summary = decode_file(codes_file, output, phase_from, keep_top, mute_atoms, iterations, model_name,
                                   device)
    _print_notices(notices)
    click.echo(f"wrote {output} ({summary['seconds']:.2f} s, model {summary['model']}, phase "
               f"{summary['phase']})", err=True)


@main.command()
@click.option("--cache-dir", type=click.Path(path_type=Path), help="The frame store's folder "
              "(default ~/.cache/sdmresynth or $SDMRESYNTH_CACHE).")
@click.option("--clear", is_flag=True, help="Delete every store in it (they are rebuilt when needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def cache(cache_dir: Path | None, clear: bool, as_json: bool) -> None:
    """List the frame stores that `train` built (files, frames, size), or clear them."""
    import json

    from .data import default_cache_dir, format_size
    from .store import check_cache_dir, clear_stores, list_stores

    folder = cache_dir or default_cache_dir()
    check_cache_dir(folder)
    if clear:
        click.echo(f"cleared {folder}: {format_size(clear_stores(folder))} freed")
        return
    stores = list_stores(folder)
    if as_json:
        click.echo(json.dumps({"folder": str(folder), "stores": stores}))
        return
    click.echo(f"{folder}: {len(stores)} store(s), {format_size(sum(s['bytes'] for s in stores))}")
    for store in stores:
        what = {"complete": f"{store['files']} files, {store['frames']} {store['precision']} frames, built "
                            f"{store['created']}",
                "unfinished": "unfinished build (resumed by the next train on the same files)",
                "damaged": "damaged (rebuilt by the next train on the same files)"}[store["state"]]
        click.echo(f"  {store['name']}  {format_size(store['bytes'])}  {what}")


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
    from rich.table import Table

    from .console import stdout_console

    table = Table(title="shipped models (test split scores)", box=box.SIMPLE_HEAD, pad_edge=False, padding=0,
                  collapse_padding=True)
    for column in ("name", "type", "L", "K", "params", "pesq_wb", "pesq_nb", "stoi", "hoyer"):
        table.add_column(column, justify="left" if column in ("name", "type") else "right", no_wrap=True,
                         min_width=max(map(len, index["models"]), default=4) if column == "name" else None)
    for name, info in sorted(index["models"].items()):
        scores = info.get("test", {})
        table.add_row(name, model_type_label(info), str(info["latent_dim"]), str(info["atoms"]),
                      f"{info['params'] / 1000:.0f}k",
                      *(f"{scores[m]:.2f}" if m in scores else "-" for m in ("pesq_wb", "pesq_nb", "stoi", "hoyer")))
    console = stdout_console()
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
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="Worker processes (0: one per CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the per-model summaries.")
@click.option("--csv", "csv_file", type=click.Path(path_type=Path), help="Write per-file rows to this CSV "
              "(appended as files finish).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run recorded in --csv: scored files are kept.")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Also write each resynthesis here: DIR/MODEL/ and "
              "the file's path below the inputs' common folder, as .wav.")
@click.option("--report", type=click.Path(path_type=Path), help="Write the Table-1 results page (docs/results.md).")
@click.option("--plot", type=click.Path(path_type=Path), help="Draw per-model metric distributions to this PNG "
              "(needs matplotlib).")
@DEVICE
def score(model_names, data, list_file, workers, as_json, csv_file, resume, out_dir, report, plot, device) -> None:
    """Score models on a test set: PESQ (wb, nb), STOI, ESTOI, SI-SDR and Hoyer sparsity, like Table 1.

    Files that cannot be scored are listed and the others scored; the exit status is 1 if any file failed.
    """
    from .scoring_cli import run_scoring

    if plot:
        from .plots import require_matplotlib

        require_matplotlib(plot)
    summaries = run_scoring(list(model_names), data, list_file, workers, as_json, csv_file, out_dir, device, plot,
                            resume, report)
    if report:
        import shlex

        from .report import write_report

        given = [arg for name in model_names for arg in ("--model", name)]
        given += ["--list", list_file.as_posix()] if list_file else ["--data", data.as_posix()]
        given += ["--report", report.as_posix()] + (["--device", device] if device != "auto" else [])
        write_report(report, summaries, shlex.join(["sdmresynth", "score", *given]))
    if any(s.failed for s in summaries):
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The shipped name, e.g. sdm-vae-dct-l64-k64.")
@click.option("--eval", "eval_sets", type=click.Path(path_type=Path), multiple=True, required=True,
              help="Split list or directory to score it on; repeatable; the first is the test split.")
@click.option("--alias", "aliases", multiple=True, help="Also answer to this name (e.g. sdm-vae). Repeatable.")
@click.option("--notes", default="", help="Free text for the top of the model card (what it is, why these settings).")
@click.option("--workers", type=click.IntRange(0), default=0, help="Scoring processes (0: one per CPU).")
@click.option("--refine-steps", type=click.IntRange(0), help="Ship it with this many code-refinement steps at "
              "encode time (VAE, SDM-VAE; weights unchanged).")
@click.option("--refine-kl-weight", type=click.FloatRange(0, min_open=True), help="Weight of the KL in that "
              "refinement (default 1, the ELBO; above 1 sparser codes, less fidelity).")
def publish(checkpoint: Path, name: str, eval_sets, aliases, notes: str, workers: int,
            refine_steps: int | None, refine_kl_weight: float | None) -> None:
    """(Maintainers) Ship CHECKPOINT in pretrained/ with a model card and its test-split scores."""
    from .publish import publish as publish_model

    results = publish_model(checkpoint, name, list(eval_sets), aliases, notes, workers, refine_steps, refine_kl_weight)
    for eval_set, summary in results.items():
        click.echo(f"{name} on {eval_set}: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.mean.items()))


if __name__ == "__main__":
    sys.exit(main())
