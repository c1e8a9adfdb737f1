"""`sdmresynth decode`: read a codes file, check it fits its model, edit the codes, decode and write the sound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .api import STFT, decode_codes, load_model, read_audio, write_audio
from .codes import keep_top as keep_top_codes
from .codes import mute_atoms as mute_codes
from .codes import parse_atoms, read_codes
from .errors import UserError


def decode_file(codes_path: Path, output: Path, phase_from: Path | None, keep_top: int | None,
                mute_atoms: str | None, iterations: int, model_name: str | None, device: str
                ) -> tuple[list[str], dict[str, Any]]:
    """Decode codes_path into output; return notices and a summary."""
    codes_file = read_codes(codes_path)
    try:
        loaded = load_model(model_name or codes_file.model, device)
    except UserError:
        if model_name:
            raise
        raise UserError(f"{codes_path}: made by model {codes_file.model!r}, which cannot be loaded here; "
                        "give it with --model NAME|PATH") from None
    if loaded.sha256 != codes_file.model_sha256:
        raise UserError(f"{codes_path}: made by another model ({codes_file.model}, checkpoint sha256 "
                        f"{codes_file.model_sha256[:12]}...), not {loaded.name} ({loaded.sha256[:12]}...)")
    codes = codes_file.codes
    if codes.shape[1] != loaded.model.config.code_dim:  # a hand-edited file
        raise UserError(f"{codes_path}: codes have {codes.shape[1]} atoms, model {loaded.name} has "
                        f"{loaded.model.config.code_dim}")
    if mute_atoms:
        codes = mute_codes(codes, parse_atoms(mute_atoms))
    if keep_top:
        codes = keep_top_codes(codes, keep_top)
    notices = []
    phase = f"fast Griffin-Lim, {iterations} iterations"
    samples = None
    if phase_from is not None:
        audio = read_audio(phase_from)
        notices += audio.notices
        if len(audio.samples) != codes_file.length:
            raise UserError(f"{phase_from}: {len(audio.samples)} samples at 16 kHz, but the codes are of a signal of "
                            f"{codes_file.length}: give the recording that was encoded")
        samples, phase = audio.samples, f"of {phase_from}"
    out = decode_codes(loaded, codes, codes_file.length, codes_file.peak, samples, iterations)
    clipped = write_audio(output, out, STFT.sample_rate)
    if clipped:
        notices.append(f"{output}: {clipped} samples clipped to full scale")
    return notices, {"model": loaded.name, "seconds": codes_file.length / STFT.sample_rate, "phase": phase}
