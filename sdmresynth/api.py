"""The Python API: the names a user of the library needs, gathered from the packages that implement them.

    >>> import sdmresynth.api as sdm
    >>> model = sdm.load_model("sdm-vae")
    >>> audio = sdm.read_audio("examples/speech.wav")
    >>> out = sdm.resynthesise(model, audio.samples)          # same length, same level
    >>> codes = sdm.encode(model, audio.samples).codes        # (frames, K)
    >>> edited = sdm.keep_top(codes, 8)                       # the 8 strongest atoms of each frame
    >>> sound = sdm.decode_codes(model, edited, len(audio.samples), phase_from=audio.samples)
"""

from __future__ import annotations

from .dsp.level import match_level
from .io.audio import Audio, read_audio, write_audio
from .io.codes_file import CodesFile, read_codes, write_codes
from .inference.coding import STFT, Encoding, decode, decode_codes, decode_codes_file, encode, resynthesise
from .inference.coding import resynthesise_with_codes
from .inference.edits import keep_top, mute_atoms
from .inference.enhance import EnhanceConfig, enhance
from .inference.files import CodeEdits, Output, enhance_file, resynthesise_file
from .inference.model import LoadedModel, load_model

__all__ = ["Audio", "CodeEdits", "CodesFile", "EnhanceConfig", "Encoding", "LoadedModel", "Output", "STFT", "decode",
           "decode_codes", "decode_codes_file", "encode", "enhance", "enhance_file", "keep_top", "load_model",
           "match_level", "mute_atoms", "read_audio", "read_codes", "resynthesise", "resynthesise_file",
           "resynthesise_with_codes", "write_audio", "write_codes"]
