"""The shipped models in pretrained/: names, aliases and the index that `sdmresynth models` reads (no torch)."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from ..errors import UserError

INDEX_FILE = "index.json"
DEFAULT_MODEL = "sdm-vae"  # the alias of the default model of encode, decode, resynth and score
# enhance's speech prior, chosen with the other settings by leave-one-noise-category-out on the validation split
# (docs/enhancement.md): Table 1's VAE at L = 64 (since 2026-12-08; before, the VAE of early stopping alone, shipped as
# vae-l64-enhance); the most faithful models of speech are not the best priors: a decoder that draws any spectrum
# also draws the noise
ENHANCE_PRIOR = "vae-l64"


def pretrained_dir() -> Path:
    """$SDMRESYNTH_PRETRAINED if set; else sdmresynth/pretrained (where a wheel installs the shipped models), or
    pretrained/ next to the package (a source checkout or editable install)."""
    override = os.environ.get("SDMRESYNTH_PRETRAINED")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parents[1]
    installed = package / "pretrained"
    return installed if (installed / INDEX_FILE).is_file() else package.parent / "pretrained"


def read_index(directory: Path | None = None) -> dict:
    """{"aliases": {alias: name}, "models": {name: summary}, "retired": {name: what replaces it}} from
    pretrained/index.json ("retired" may be absent)."""
    index_file = (directory or pretrained_dir()) / INDEX_FILE
    if not index_file.is_file():
        return {"aliases": {}, "models": {}}
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        if not isinstance(index.get("models"), dict) or not isinstance(index.get("aliases"), dict):
            raise ValueError("needs 'models' and 'aliases' objects")
    except (ValueError, OSError, AttributeError) as error:
        raise UserError(f"{index_file}: damaged model index ({error})") from None
    return index


def resolve_model(name_or_path: str) -> tuple[str, Path]:
    """(display name, checkpoint path) for a shipped name, an alias or a file path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".pt" or candidate.exists() or os.sep in name_or_path:
        if not candidate.is_file():
            raise UserError(f"{candidate}: no such model file")
        return candidate.stem, candidate
    index = read_index()
    if name_or_path in index.get("retired", {}):
        raise UserError(f"model {name_or_path!r} is no longer shipped: {index['retired'][name_or_path]}")
    name = index["aliases"].get(name_or_path, name_or_path)
    path = pretrained_dir() / f"{name}.pt"
    if name not in index["models"] or not path.is_file():
        known = sorted(set(index["models"]) | set(index["aliases"]))
        close = difflib.get_close_matches(name_or_path, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UserError(f"unknown model {name_or_path!r} ({hint}shipped: {', '.join(known) or 'none installed'}; "
                        "or give a checkpoint path)")
    return name, path
