"""Choose the torch device by name: auto, cpu or cuda."""

from __future__ import annotations

import torch

from .errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA when available, else CPU; cuda without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda': no CUDA device is available (use 'cpu' or 'auto')")
    if name not in ("cpu", "cuda"):
        raise UserError(f"device {name!r}: expected 'auto', 'cpu' or 'cuda'")
    return torch.device(name)
