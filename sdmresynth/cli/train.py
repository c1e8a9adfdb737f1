"""`sdmresynth train`: the model and training settings from the options, the frames (the frame store's workers
started ahead), and the run with a progress display and a line per epoch."""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.core import ParameterSource

from ..errors import UserError
from .common import DEVICE

# Options that only one kind of model has: given to another, they would be ignored without a word.
ONLY_FOR = {"sdm-vae": ("dictionary", "atoms"),
            "vsc": ("alpha", "pseudo_inputs", "selector_sharpness", "selector_anneal", "slab_warmup")}


def check_options_apply(model_type: str, given: set[str]) -> None:
    """Refuse options given on the command line that the model type does not have."""
    for owner, names in ONLY_FOR.items():
        stray = [name for name in names if name in given and model_type != owner]
        if stray:
            flags = ", ".join("--" + name.replace("_", "-") for name in stray)
            raise UserError(f"{flags}: only for --model-type {owner}, not {model_type}")


def _seed_list(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2)."""
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected seeds such as 0,1,2") from None
    if len(seeds) < 2 or len(set(seeds)) < len(seeds):
        raise click.BadParameter(f"{text!r}: a sweep takes two or more different seeds")
    return seeds


def _applied(options: list, command: click.Command) -> click.Command:
    """command with the options, listed in the order --help shows them."""
    for option in reversed(options):
        command = option(command)
    return command


def _model_options(command: click.Command) -> click.Command:
    """The model's options (architecture, input, VSC's prior)."""
    options = [
        click.option("--model-type", type=click.Choice(["vae", "sdm-vae", "vsc"]), default="sdm-vae",
                     show_default=True),
        click.option("--latent-dim", "-L", type=click.IntRange(1), default=64, show_default=True),
        click.option("--dictionary", type=click.Choice(["identity", "dct", "learned"]), default="dct",
                     show_default=True),
        click.option("--atoms", "-K", type=click.IntRange(1), help="Dictionary size K (default: L)."),
        click.option("--hidden-dim", type=click.IntRange(1), default=128, show_default=True),
        click.option("--decoder-hidden-dim", type=click.IntRange(0), default=0, show_default=True,
                     help="Width of the decoder's tanh layers (0: --hidden-dim, as the paper)."),
        click.option("--decoder-layers", type=click.IntRange(1), default=1, show_default=True,
                     help="Tanh layers in the decoder (the paper: 1)."),
        click.option("--reconstruction-weight", type=click.Choice(["none", "bark"]), default="none",
                     show_default=True, help="Weigh the IS divergence per frequency bin: bark, by the Bark scale's "
                     "density (each critical band alike, as the ear; not in the paper)."),
        click.option("--linear-skip", is_flag=True, help="Give the encoder's mean and the decoder's output a linear "
                     "path besides the tanh layer (not in the paper; the default model has it)."),
        click.option("--soft-threshold", is_flag=True, help="Pass the encoder's mean through a soft threshold "
                     "learned per code dimension, so that codes have exact zeros (not in the paper)."),
        click.option("--inference-steps", type=click.IntRange(0), default=0, show_default=True,
                     help="Learned inference steps after the encoder (iterative amortised inference, Marino et al. "
                     "2018; not in the paper): each reads the gradient of the frame's objective (the decoded mean's "
                     "divergence + --kl-weight x KL) and moves the code, at about four times a one-pass encoder's "
                     "cost. Train them on a model with --init-from M --train-only inference --objective refinement."),
        click.option("--inference-hidden-dim", type=click.IntRange(1), default=512, show_default=True,
                     help="Width of the inference step's tanh layer."),
        click.option("--input-transform", type=click.Choice(["power", "log"]), help="Encoder input: the power "
                     "spectrogram (paper) or its log.  [default: log; power with --paper-protocol]"),
        click.option("--standardise-input/--no-standardise-input", default=None, help="Standardise each encoder "
                     "input bin with training-set mean and std (stored in the model).  [default: on; off with "
                     "--paper-protocol]"),
        click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
                     show_default=True, help="VSC: prior spike probability (lower is sparser)."),
        click.option("--pseudo-inputs", type=click.IntRange(0), default=10, show_default=True,
                     help="VSC: learned pseudo-inputs of the prior (0: fixed N(0, 1) slab, closed-form KL)."),
        click.option("--selector-sharpness", type=click.FloatRange(min=0, min_open=True), default=100.0,
                     show_default=True, help="VSC: c in the relaxed selector sigmoid(c (eta + gamma - 1))."),
        click.option("--selector-anneal", type=(click.FloatRange(min=0), click.IntRange(0)), default=(0.0, 0),
                     show_default=True, metavar="C0 EPOCHS", help="VSC: grow c linearly from C0 to "
                     "--selector-sharpness over EPOCHS epochs (0 0: constant c)."),
        click.option("--slab-warmup", type=(click.IntRange(0), click.IntRange(0)), default=(10, 20),
                     show_default=True, help="VSC: epochs START END over which the slab is phased in (0 0: no "
                     "warm-up)."),
    ]
    return _applied(options, command)


def _protocol_options(command: click.Command) -> click.Command:
    """The training protocol's options (optimiser, stopping, objective, seed)."""
    options = [
        click.option("--paper-protocol", is_flag=True, help="Train with the official code's setting: raw power "
                     "input, not standardised, Adam 1e-4, no gradient clipping (instead of the recipe of the shipped "
                     "models)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True),
                     help="Adam's learning rate.  [default: 1e-3; 1e-4 with --paper-protocol]"),
        click.option("--batch-size", type=click.IntRange(1), default=128, show_default=True),
        click.option("--patience", type=click.IntRange(1), default=20, show_default=True),
        click.option("--lr-decays", type=click.IntRange(0), default=0, show_default=True,
                     help="When --patience epochs bring no better validation loss, go back to the best weights and "
                     "go on at a tenth of the learning rate (a fresh Adam), this many times before stopping. Raising "
                     "it on --resume continues a stopped run."),
        click.option("--max-epochs", type=click.IntRange(1), default=500, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--seeds", type=_seed_list, help="Train one model per seed (e.g. 0,1,2,3) side by side (one "
                     "stacked computation on a GPU; on a CPU one process per thread, each training its models in "
                     "turn): OUT-seedN.pt each, each with its own state, early stopping and learning-rate decays, "
                     "equal to its own run with --seed N."),
        click.option("--grad-clip", type=click.FloatRange(min=0), help="Clip the global gradient norm to this (0: "
                     "off).  [default: 2000; 0 with --paper-protocol]"),
        click.option("--kl-weight", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
                     help="Weight of the KL term in the training loss (1: the ELBO; above 1 sparser SDM-VAE codes)."),
        click.option("--mean-weight", type=click.FloatRange(0), default=0.0, show_default=True,
                     help="Add the Itakura-Saito divergence of the decoded posterior mean (what resynthesis decodes) "
                     "to the loss with this weight (0: the ELBO alone)."),
        click.option("--train-only", type=click.Choice(["encoder", "encoder-mean", "decoder", "inference"]),
                     help="Train only the encoder's weights, or only those that make its mean (the decoder and "
                     "dictionary, and with encoder-mean the variances, stay as --init-from has them): e.g. a sparser "
                     "code for a fixed decoder with --kl-weight above 1; or only the decoder and a learned "
                     "dictionary, for the codes the encoder gives (with --objective refinement: the decoding of the "
                     "code resynthesis uses); or only the learned inference steps."),
        click.option("--objective", type=click.Choice(["elbo", "refinement"]), default="elbo", show_default=True,
                     help="refinement: train on what the encode-time refinement minimises (the decoded mean's "
                     "divergence + --kl-weight x KL, no sample), e.g. to fold the refinement into a one-pass encoder "
                     "with --train-only encoder-mean."),
        click.option("--init-from", help="Start from this checkpoint's weights (a path or shipped name; same "
                     "architecture; --soft-threshold or --inference-steps may be added, a DCT dictionary made "
                     "--dictionary learned): fine-tuning. Its input standardisation is kept."),
    ]
    return _applied(options, command)


def _data_options(command: click.Command) -> click.Command:
    """Where the data comes from and how it is kept, and where the run goes."""
    options = [
        click.option("--data", type=click.Path(path_type=Path), help="Directory of audio (searched recursively; "
                     "split by speaker = parent folder)."),
        click.option("--train", "train_lists", multiple=True, type=click.Path(path_type=Path),
                     help="Split list of training files (paths relative to the list). Repeatable."),
        click.option("--val", "val_lists", multiple=True, type=click.Path(path_type=Path),
                     help="Split list of validation files. Repeatable."),
        click.option("--out", "-o", type=click.Path(path_type=Path), help="Checkpoint to write (required unless "
                     "--build-only)."),
        click.option("--threads", type=click.IntRange(0), default=0, help="CPU threads (0: torch's default, all "
                     "cores). Several runs at once: give each its share of the cores, as runs that each take all "
                     "cores wait on each other's threads (two on two cores: each 4x slower)."),
        click.option("--cache-dir", type=click.Path(path_type=Path), help="Where the frame store lives "
                     "(default ~/.cache/sdmresynth or $SDMRESYNTH_CACHE)."),
        click.option("--no-cache", is_flag=True, help="No frame store: compute the frames and hold them in memory."),
        click.option("--frame-precision", type=click.Choice(["float32", "bfloat16"]), default="float32",
                     show_default=True, help="How the training and validation frames are kept: bfloat16 halves the "
                     "frame store on disk and in the page cache (values within 0.4 %; validation loss and PESQ "
                     "measured unchanged: docs/performance.md)."),
        click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
                     help="Processes that build the frame store, this one included (0: one per CPU)."),
        click.option("--resume", is_flag=True, help="Continue the interrupted run that writes --out."),
        click.option("--overwrite", is_flag=True, help="Start afresh where --out, or the saved state of a run "
                     "writing it, exists (that work is replaced)."),
        click.option("--build-only", is_flag=True, help="Build the frame stores of the training and validation "
                     "files and stop without training (--out is then optional): for example on each node before a "
                     "torchrun launch. Add it to the training command line itself, so that the files, --cache-dir "
                     "and --frame-precision are the same."),
    ]
    return _applied(options, command)


@click.command()
@_data_options
@_model_options
@_protocol_options
@DEVICE
def train(data: Path | None, train_lists: tuple[Path, ...], val_lists: tuple[Path, ...], out: Path | None,
          threads: int, cache_dir: Path | None, no_cache: bool, workers: int, resume: bool, overwrite: bool,
          build_only: bool, device: str, **settings) -> None:
    """Train a VAE, SDM-VAE or VSC: the paper's protocol (Adam, batch 128, early stopping on the validation loss)
    with the recipe of the shipped models (log input standardised per bin, Adam 1e-3, gradient norm clipped at
    2000); --paper-protocol trains the official code's setting instead."""
    from rich.console import Console

    from ..dsp.stft import StftConfig
    from ..training.framestore.store import default_cache_dir
    from ..training.sets import gather_files, store_workers

    if build_only and no_cache:
        raise click.UsageError("--build-only builds the frame stores, which --no-cache turns off: give one of them")
    if not build_only and out is None:
        raise click.UsageError("Missing option '--out' / '-o' (the checkpoint to write), or give --build-only")
    if resume and overwrite:
        raise click.UsageError("--resume continues the saved run, --overwrite replaces it: give one of them")
    files = gather_files(data, train_lists, val_lists)
    cache = None if no_cache else (cache_dir or default_cache_dir())
    console = Console(soft_wrap=True, quiet=os.environ.get("RANK", "0") != "0")  # under torchrun rank 0 reports
    with store_workers(files, StftConfig(), cache, workers, settings["frame_precision"]) as builders:
        # imported with the store's workers starting (if a store is to be built): torch takes longer than they do
        from .training import Plan, load, prepare, train_and_report

        context = click.get_current_context()
        given = {name for name in settings if context.get_parameter_source(name) is not ParameterSource.DEFAULT}
        check_options_apply(settings["model_type"], given)
        if "seed" in given and settings["seeds"]:
            raise UserError("--seed trains one model, --seeds a sweep: give one of them")
        plan = Plan.from_options(context.params, files, cache)
        saved = None if build_only else prepare(plan)  # before any audio is read: minutes on a corpus
        sets = load(plan, builders, console)
        if build_only:
            console.print("the frame stores are ready: the same command without --build-only trains from them")
            return
    train_and_report(plan, saved, sets, console)
