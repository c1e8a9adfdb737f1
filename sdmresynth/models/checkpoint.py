"""Versioned, pickle-free checkpoints: {format, format_version, kind, config, state_dict, metadata}.

Files are written with torch.save and read with torch.load(weights_only=True), so loading never runs code.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..io.atomic import write_atomically
from . import build_model
from .base import SpectralVAE
from .config import ModelConfig

FORMAT = "sdmresynth"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: what `kind` of file, the model config, weights and free-form metadata."""

    kind: str
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    extra: dict[str, Any]


def save_checkpoint(
    path: Path,
    config: ModelConfig,
    state_dict: dict[str, torch.Tensor],
    metadata: dict[str, Any],
    kind: str = "model",
    extra: dict[str, Any] | None = None,
) -> None:
    """Atomically write a checkpoint; `extra` carries training state (optimizer, RNG) for resumable runs."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "metadata": json.loads(json.dumps(metadata)),  # plain types only: loadable with weights_only
        "extra": extra or {},
    }
    write_atomically(Path(path), lambda temp: torch.save(payload, temp))


def load_checkpoint(path: Path, kind: str = "model") -> Checkpoint:
    """Read and validate a checkpoint; every problem becomes a one-line UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    if not _looks_like_torch_file(path):
        raise UserError(f"{path}: not an sdmresynth checkpoint (not a file torch.save writes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path}: refused: not a plain sdmresynth checkpoint (it would need to run code to load)") from None
    except Exception as error:  # noqa: BLE001 - a damaged file can fail anywhere in the unpickler
        reason = str(error).splitlines()[0].split(". ")[0][:120]  # torch's first sentence says what failed
        raise UserError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not an sdmresynth checkpoint")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{path}: checkpoint format version {version} is newer than this sdmresynth supports "
                        f"({FORMAT_VERSION}); upgrade sdmresynth")
    if payload.get("kind") != kind:
        raise UserError(f"{path}: is a {payload.get('kind')!r} file, expected a {kind!r} checkpoint")
    try:
        config = ModelConfig.from_dict(payload["config"])
        state_dict = dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path}: damaged checkpoint ({error})") from None
    return Checkpoint(kind, config, state_dict, dict(payload.get("metadata", {})), dict(payload.get("extra", {})))


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (identifies the exact checkpoint that made a codes file)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (or, in old versions, a raw pickle): anything else is not a checkpoint."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith((b"PK\x03\x04", b"\x80"))


def model_from_checkpoint(checkpoint: Checkpoint, path: Path) -> SpectralVAE:
    """Build the model a checkpoint describes and load its weights (strict keys)."""
    model = build_model(checkpoint.config)
    try:
        model.load_state_dict(checkpoint.state_dict, strict=True)
    except RuntimeError as error:
        raise UserError(f"{path}: weights do not match the model config ({str(error).splitlines()[0]})") from None
    return model.eval()
