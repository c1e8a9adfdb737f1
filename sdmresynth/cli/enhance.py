"""`sdmresynth enhance`: noisy recordings to speech, with a learned speech prior and no noise seen in training."""

from __future__ import annotations

import click

from ..io.shipped import ENHANCE_PRIOR
from .common import DEVICE, FLOAT, KEEP_RATE, THREADS, WORKERS, audio_to_audio, level_option, set_threads


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--model", "-m", "model_name", default=ENHANCE_PRIOR, show_default=True,
              help="The speech prior: a shipped VAE or SDM-VAE's name or a checkpoint path (the default, with the "
              "other defaults, was chosen by leave-one-noise-category-out on the validation split; "
              "docs/enhancement.md).")
@click.option("--noise-rank", type=click.IntRange(1, 513), default=8, show_default=True,
              help="Atoms R of the noise model (an NMF learned on each recording; at most the 513 frequency bins).")
@click.option("--iterations", type=click.IntRange(1), default=30, show_default=True, help="EM iterations.")
@click.option("--code-steps", type=click.IntRange(0), default=5, show_default=True,
              help="Adam steps (lr 0.02) on the codes in each iteration.")
@click.option("--wiener-exponent", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
              help="Raise the final Wiener gain to this power: 1 is the posterior mean of the speech; larger "
              "removes more noise (chosen by leave-one-noise-category-out, docs/enhancement.md).")
@click.option("--code-smoothness", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Weight of the temporal prior on the codes, lambda sum_t ||code_t - code_t-1||^2: speech spectra "
              "change slowly, the noise a speech prior can be made to draw does not (0: frames independent).")
@DEVICE
@WORKERS
@THREADS
@KEEP_RATE
@level_option("as-is", "as-is: the speech at the noisy input's scale (quieter by the noise taken away); peak or rms: "
              "raised to the input's peak or RMS.")
@FLOAT
@click.option("--overwrite", is_flag=True, help="Allow TARGET to be SOURCE.")
def enhance(paths: tuple[str, ...], model_name: str, noise_rank: int, iterations: int, code_steps: int,
            wiener_exponent: float, code_smoothness: float, device: str, workers: int, threads: int, keep_rate: bool,
            level: str, floating: bool, overwrite: bool) -> None:
    """Remove background noise from SOURCE... into TARGET, with no noise seen in training.

    The model's decoder is the speech prior; the noise is a rank-R NMF learned on each recording (each 33 s block
    of a longer one); a variational EM separates them (20 NMF updates on the mixture first, then ITERATIONS of a
    Wiener E-step and an M-step over codes, per-frame gains and the NMF; the codes under the model's prior and a
    temporal one, --code-smoothness), and the output is a parametric Wiener filter of the noisy STFT (the gain to
    the power --wiener-exponent; 1 gives the posterior mean of the speech) with the noisy phase. VAE and SDM-VAE
    models work (not VSC). Outputs are named as with resynth.
    """
    from ..inference.enhance import EnhanceConfig, check_speech_prior
    from ..inference.files import Output, enhancement_job
    from ..inference.model import load_model

    set_threads(threads)
    config = EnhanceConfig(noise_rank=noise_rank, iterations=iterations, code_steps=code_steps,
                           wiener_exponent=wiener_exponent, code_smoothness=code_smoothness)
    loaded = load_model(model_name, "cpu")
    check_speech_prior(loaded.model, f"model {loaded.name}")  # before any work or output
    audio_to_audio(enhancement_job, paths, model_name, device, workers, overwrite, "enhancement: blocks of 33 s",
                   config=config, output=Output(level, floating, keep_rate))
