"""`sdmresynth decode`: codes (edited or not) back to sound."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .common import (DEVICE, FLOAT, THREADS, block_progress, level_option, print_notices, same_file,
                     set_threads)


@click.command()
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
@THREADS
@level_option("peak", "peak: the encoded recording's peak (edits change the sound, not its peak; nothing clips); "
              "as-is: the decoded level, which edited codes change (may clip, unless --float).")
@FLOAT
@click.option("--overwrite", is_flag=True, help="Allow OUT to be the --phase-from recording.")
def decode(codes_file: Path, target: str, phase_from: Path | None, keep_top: int | None, mute_atoms: str | None,
           iterations: int, model_name: str | None, device: str, threads: int, level: str, floating: bool,
           overwrite: bool) -> None:
    """Turn codes that `encode` wrote (edited or not) back into sound, written to OUT (.wav, .flac, .ogg, .aiff;
    a folder receives the codes file's name with .wav).

    --keep-top and --mute-atoms edit the codes first (w for SDM-VAE, z for the VAE, the gated code for VSC).
    """
    from ..inference.edits import parse_atoms
    from ..inference.files import CodeEdits, Output, decoding_job
    from ..io.outputs import check_audio_target, single_output

    set_threads(threads)
    check_audio_target(target, floating)
    stem = codes_file.name.removesuffix(".npz").removesuffix(".codes")
    output = single_output(codes_file, target, ".wav", stem=stem)
    if phase_from and not overwrite and same_file(output, phase_from):
        raise UserError(f"{output}: is the recording given to --phase-from; pass --overwrite to replace it")
    edits = CodeEdits(tuple(parse_atoms(mute_atoms)) if mute_atoms else (), keep_top)
    steps = "decoding: blocks of 33 s" if phase_from else "Griffin-Lim iterations"
    with block_progress(steps) as on_block:
        notices, summary = decoding_job(codes_file, output, phase_from, edits, iterations, model_name, device,
                                        Output(level, floating), on_block)
    print_notices(notices)
    click.echo(f"wrote {output} ({summary['seconds']:.2f} s, model {summary['model']}, phase "
               f"{summary['phase']})", err=True)
