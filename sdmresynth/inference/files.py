"""Files through a model, one at a time: each reads its input, writes its output atomically and says what happened
(notices and a summary), the same for a single-file command, a batch run and a Python caller."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..dsp.griffin_lim import GRIFFIN_LIM_ITERATIONS
from ..dsp.level import match_level
from ..errors import UserError
from ..io.audio import Audio, peak_level, read_audio, resample, write_audio
from ..io.codes_file import CodesFile, read_codes, write_codes
from .coding import STFT, decode_codes_file, encode, resynthesise
from .edits import keep_top as keep_top_codes
from .edits import mute_atoms as mute_codes
from .enhance import EnhanceConfig, enhance
from .model import LoadedModel, load_model

TOP_ATOMS = 8  # the most active atoms an encoding's summary names

Outcome = tuple[list[str], dict[str, Any]]  # a job's notices and summary
Progress = Callable[[int, int], None]  # on_block(blocks done, blocks in all)


@dataclass(frozen=True)
class Output:
    """How an output file is written: its level against the input's (the peak matched, so that it clips only where
    the input did; the RMS, the loudness, matched; or as the model made it, at the input's scale), 32-bit float
    samples (WAV, AIFF: nothing clips), and the input's own rate instead of 16 kHz."""

    level: str = "peak"
    floating: bool = False
    keep_rate: bool = False


def _write_output(audio: Audio, out: np.ndarray, target: Path, output: Output) -> None:
    """Write a 16 kHz result for audio at the level asked (at its source rate and length with keep_rate); note
    clipping."""
    out = match_level(out, audio.samples, output.level)
    rate = audio.sample_rate
    if output.keep_rate and audio.source_rate != rate:
        out, rate = resample(out, rate, audio.source_rate)[: audio.source_length], audio.source_rate
    clipped = write_audio(target, out, rate, output.floating)
    if clipped:
        audio.notices.append(_clipping_notice(target, clipped))


def _clipping_notice(target: Path, clipped: int) -> str:
    return (f"{target}: {clipped} samples clipped to full scale (the peak level, or float samples in a .wav, keep "
            "them)")


def resynthesise_file(loaded: LoadedModel, source: Path, target: Path, output: Output = Output(),
                      on_block: Progress | None = None) -> Audio:
    """Resynthesise an audio file into target (format from its suffix; 16 kHz, or the input's rate with keep_rate)."""
    audio = read_audio(source)
    _write_output(audio, resynthesise(loaded, audio.samples, on_block=on_block), target, output)
    return audio


def enhance_file(loaded: LoadedModel, source: Path, target: Path, config: EnhanceConfig = EnhanceConfig(),
                 output: Output = Output(level="as-is"), on_block: Progress | None = None) -> Audio:
    """Enhance an audio file into target (format from its suffix; 16 kHz, or the input's rate with keep_rate); at
    the input's scale by default, since the noise taken away lowers the level."""
    audio = read_audio(source)
    if not np.any(audio.samples):
        audio.notices.append(f"{source}: digital silence, written as silence")
    _write_output(audio, enhance(loaded, audio.samples, config, on_block=on_block), target, output)
    return audio


def _summary(audio: Audio, source: Path, target: Path) -> dict[str, Any]:
    return {"file": str(source), "output": str(target), "seconds": len(audio.samples) / audio.sample_rate}


def resynthesis_job(loaded: LoadedModel, source: Path, target: Path, output: Output = Output(),
                    on_block: Progress | None = None) -> Outcome:
    """resynthesise_file, with its notices and a summary."""
    audio = resynthesise_file(loaded, source, target, output, on_block)
    return audio.notices, _summary(audio, source, target)


def enhancement_job(loaded: LoadedModel, source: Path, target: Path, config: EnhanceConfig = EnhanceConfig(),
                    output: Output = Output(level="as-is"), on_block: Progress | None = None) -> Outcome:
    """enhance_file, with its notices and a summary."""
    audio = enhance_file(loaded, source, target, config, output, on_block)
    return audio.notices, _summary(audio, source, target)


def encoding_job(loaded: LoadedModel, source: Path, target: Path, on_block: Progress | None = None) -> Outcome:
    """Encode source and write its codes file (codes, z, per-frame Hoyer) to target (.npz, atomically); the notices
    and a summary (frames, atoms, mean Hoyer sparsity, the most active atoms)."""
    audio = read_audio(source)
    encoding = encode(loaded, audio.samples, on_block=on_block)
    frame_hoyer = encoding.hoyer
    codes_file = CodesFile(encoding.codes, loaded.reference, loaded.sha256, len(audio.samples),
                           peak_level(audio.samples), STFT.sample_rate, STFT.hop, STFT.n_fft)
    write_codes(target, codes_file, encoding.z, frame_hoyer)
    activity = np.abs(encoding.codes).mean(axis=0)
    top = np.argsort(activity)[::-1][:TOP_ATOMS]
    return audio.notices, {
        "file": str(source),
        "output": str(target),
        "model": loaded.name,
        "model_type": loaded.model.config.model_type,
        "frames": int(encoding.codes.shape[0]),
        "atoms": int(encoding.codes.shape[1]),
        "latent_dim": int(encoding.z.shape[1]),
        "seconds": round(len(audio.samples) / audio.sample_rate, 3),
        "hoyer": float(frame_hoyer.mean()),
        "top_atoms": [{"atom": int(k), "mean_abs": float(activity[k])} for k in top],
    }


def _model_of(codes_path: Path, codes_file: CodesFile, model: str | None, device: str) -> LoadedModel:
    """The model given, or else the one the codes file names."""
    try:
        return load_model(model or codes_file.model, device)
    except UserError:
        if model:
            raise
        raise UserError(f"{codes_path}: made by model {codes_file.model!r}, which cannot be loaded here; give the "
                        "model (a name or checkpoint path)", parameters=("model",)) from None


@dataclass(frozen=True)
class CodeEdits:
    """Edits of codes before they are decoded: these atoms muted in every frame, then each frame's `keep_top`
    strongest kept."""

    mute_atoms: tuple[int, ...] = ()
    keep_top: int | None = None

    def apply(self, codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The edited codes (T, K), and notices of edits that change nothing."""
        notices = []
        if self.mute_atoms:
            codes = mute_codes(codes, list(self.mute_atoms))
        if self.keep_top:
            if self.keep_top >= codes.shape[1]:
                notices.append(f"keeping the top {self.keep_top} of {codes.shape[1]} atoms keeps them all: the codes "
                               "are unchanged")
            codes = keep_top_codes(codes, self.keep_top)
        return codes, notices


def decoding_job(codes_path: Path, target: Path, phase_from: Path | None = None, edits: CodeEdits = CodeEdits(),
                 iterations: int = GRIFFIN_LIM_ITERATIONS, model: str | None = None, device: str = "auto",
                 output: Output = Output(), on_block: Progress | None = None) -> Outcome:
    """Decode a codes file, edited, with the model that made it (checked by the checkpoint's SHA-256; `model` names
    it if the file's name does not load), with the phase of the recording `phase_from` or Griffin-Lim's
    (`iterations`), into target at the level asked (the encoded signal's peak by default; "as-is" keeps the level
    of edited codes); notices and a summary."""
    codes_file = read_codes(codes_path)
    loaded = _model_of(codes_path, codes_file, model, device)
    codes_file.codes, notices = edits.apply(codes_file.codes)
    samples, phase = None, f"fast Griffin-Lim, {iterations} iterations"
    if phase_from is not None:
        audio = read_audio(phase_from)
        notices += audio.notices
        samples, phase = audio.samples, f"of {phase_from}"
    if output.level == "rms":
        raise UserError("decode matches the encoded signal's peak or keeps the level as it is: not its RMS, which "
                        "a codes file does not keep", parameters=("level",))
    out = decode_codes_file(loaded, codes_file, samples, iterations, where=codes_path, on_block=on_block)
    out = match_level(out, np.array([codes_file.peak]), output.level)
    clipped = write_audio(target, out, STFT.sample_rate, output.floating)
    if clipped:
        notices.append(_clipping_notice(target, clipped))
    return notices, {"file": str(codes_path), "output": str(target), "model": loaded.name,
                     "seconds": codes_file.length / STFT.sample_rate, "phase": phase}
