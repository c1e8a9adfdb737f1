"""A model ready to run: loaded by shipped name, alias or checkpoint path, with what identifies it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..device import resolve_device
from ..errors import UserError
from ..models import SpectralVAE
from ..models.checkpoint import file_sha256, load_checkpoint, model_from_checkpoint
from ..io.shipped import pretrained_dir, resolve_model

_PROCESS_MODELS: dict[tuple[str, str, int | None], "LoadedModel"] = {}


@dataclass
class LoadedModel:
    """A model ready to run, with its name, file and model-card metadata."""

    model: SpectralVAE
    name: str
    path: Path
    metadata: dict[str, Any]
    device: torch.device
    sha256: str  # of the checkpoint file: codes files name the exact model that made them

    @property
    def reference(self) -> str:
        """How a codes file names this model: the shipped name, or the checkpoint's absolute path."""
        shipped = self.path.resolve().parent == pretrained_dir().resolve()
        return self.name if shipped else str(self.path.resolve())


def load_model(name_or_path: str = "sdm-vae", device: str = "auto", refine_steps: int | None = None) -> LoadedModel:
    """Load a shipped model by name or alias, or any checkpoint file, onto device (auto|cpu|cuda). refine_steps
    overrides the per-frame refinement of the codes at encode time that the model ships with (0: one encoder pass;
    VAE and SDM-VAE)."""
    name, path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    if refine_steps is not None and refine_steps != checkpoint.config.refine_steps:
        try:
            checkpoint.config = replace(checkpoint.config, refine_steps=refine_steps)
        except ValueError as error:
            raise UserError(f"{path}: {error}", parameters=("refine_steps",)) from None
    target = resolve_device(device)
    model = model_from_checkpoint(checkpoint, path).to(target)
    return LoadedModel(model, name, path, checkpoint.metadata, target, file_sha256(path))


def cached_model(name_or_path: str, device: str = "cpu", refine_steps: int | None = None) -> LoadedModel:
    """load_model, once per process for each (model, device, refinement): what a worker process scoring or converting
    many files keeps between its jobs."""
    key = (name_or_path, device, refine_steps)
    if key not in _PROCESS_MODELS:
        _PROCESS_MODELS[key] = load_model(name_or_path, device, refine_steps)
    return _PROCESS_MODELS[key]
