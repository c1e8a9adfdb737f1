"""`sdmresynth resynth`: recordings through a model and back, with their own phase."""

from __future__ import annotations

import click

from .common import DEVICE, FLOAT, KEEP_RATE, MODEL, REFINE, THREADS, WORKERS, audio_to_audio, level_option, set_threads


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@MODEL
@REFINE
@DEVICE
@WORKERS
@THREADS
@KEEP_RATE
@level_option("peak", "peak: the input's peak (the output clips only where the input did); rms: the input's RMS "
              "(loudness; may clip, unless --float); as-is: the model's output at the input's scale.")
@FLOAT
@click.option("--overwrite", is_flag=True, help="Allow TARGET to be SOURCE.")
def resynth(paths: tuple[str, ...], model_name: str, refine_steps: int | None, device: str, workers: int,
            threads: int, keep_rate: bool, level: str, floating: bool, overwrite: bool) -> None:
    """Resynthesise SOURCE... into TARGET: STFT, encode, decode, inverse STFT with the input's phase.

    As with cp: one input file and a TARGET file name writes that file, in the format its suffix names (.wav,
    .flac, .aiff: 16-bit; .ogg: Vorbis); a TARGET folder (an existing one, or a name ending in /, created if
    missing) receives SOURCE's name with .wav. Several inputs or a folder input need a folder TARGET, and the
    folder structure below each input folder is kept.
    """
    from ..inference.files import Output, resynthesis_job

    set_threads(threads)
    audio_to_audio(resynthesis_job, paths, model_name, device, workers, overwrite, "resynthesis: blocks of 33 s",
                   refine_steps, output=Output(level, floating, keep_rate))
