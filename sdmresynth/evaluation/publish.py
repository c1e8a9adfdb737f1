"""Ship a trained checkpoint: copy it into pretrained/, score it on the test split, write its model card and index entry."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from ..dsp.metrics import METRIC_NAMES
from ..io.atomic import write_atomically
from ..io.corpus import files_from
from ..models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from ..io.shipped import INDEX_FILE, pretrained_dir, read_index
from .scores import ModelSummary, summarise
from .scoring import score_files

METRIC_LABELS = {
    "pesq_wb": "PESQ wide-band (ITU-T P.862.2)",
    "pesq_nb": "PESQ narrow-band (P.862 MOS-LQO)",
    "stoi": "STOI (classic)",
    "estoi": "ESTOI (extended STOI)",
    "si_sdr": "SI-SDR (dB)",
    "hoyer": "Hoyer sparsity of the codes",
}


def index_entry(path: Path, test: ModelSummary, test_set: str) -> dict[str, Any]:
    """What `sdmresynth models` shows for a model, readable without torch."""
    checkpoint = load_checkpoint(path)
    model = model_from_checkpoint(checkpoint, path)
    config = checkpoint.config
    return {
        "model_type": config.model_type,
        "latent_dim": config.latent_dim,
        "atoms": config.code_dim,
        "dictionary": config.dictionary if config.model_type == "sdm-vae" else None,
        "alpha": config.alpha if config.model_type == "vsc" else None,
        "hidden_dim": config.hidden_dim,
        "input_transform": config.input_transform,
        "params": sum(p.numel() for p in model.parameters()),
        "test_set": test_set,
        "test_files": test.files,
        "test": {m: round(test.mean[m], 4) for m in METRIC_NAMES if not math.isnan(test.mean[m])},
    }


def scores_table(results: dict[str, ModelSummary]) -> str:
    """Markdown: a row per metric (mean ± 95 % CI), a column per evaluation set, and the files scored."""
    header = "| metric | variant | " + " | ".join(f"`{s}`" for s in results) + " |"
    rule = "| --- | --- |" + " --- |" * len(results)
    rows = [f"| `{m}` | {METRIC_LABELS[m]} | " + " | ".join(f"{r.mean[m]:.3f} ± {r.ci95[m]:.3f}"
                                                         for r in results.values()) + " |" for m in METRIC_NAMES]
    counts = " | ".join(f"{r.files} ({r.failed} failed)" for r in results.values())
    return "\n".join([header, rule, *rows, f"| files | | {counts} |"])


def model_card(name: str, path: Path, results: dict[str, ModelSummary], notes: str) -> str:
    """The model card in Markdown: data, settings, training run, scores on each evaluation set."""
    checkpoint = load_checkpoint(path)
    meta, config = checkpoint.metadata, checkpoint.config
    train = meta.get("train_config", {})
    sources = meta.get("data_sources", {})
    sets = list(results)
    settings = "\n".join(f"| {k} | {v} |" for k, v in {**config.relevant_settings(), **train}.items())
    return f"""# {name}

{notes.strip()}

## Use

```
sdmresynth resynth in.wav out.wav --model {name}
sdmresynth encode in.wav --model {name}
```

## Data

- Training: {", ".join(sources.get("train", [])) or "?"} ({meta.get("train_files", "?")} files,
  {meta.get("train_frames", "?")} frames after trimming silence at the ends, 30 dB below the peak frame).
- Validation (early stopping): {", ".join(sources.get("val", [])) or "?"} ({meta.get("val_files", "?")} files,
  {meta.get("val_frames", "?")} frames). Speakers are disjoint from training.
- Evaluation: {", ".join(f"`{s}`" for s in sets)}; no speaker of these is in training or validation.
- Speech, 16 kHz: the split lists above name the files; the project's `shared/data/README.md` gives their sources and
  licences (LibriSpeech and Speech Commands: CC BY 4.0; speechocean762: Apache-2.0).

## Settings

| setting | value |
| --- | --- |
{settings}

STFT: {meta.get("stft", {})}, sine window; each input is peak-normalised before analysis.

## Training run

| | |
| --- | --- |
| epochs run | {meta.get("epochs_run")} (stopped by {meta.get("stopped_by")}) |
| best epoch | {meta.get("best_epoch")} |
| best validation loss (negative ELBO per frame: IS divergence + KL) | {meta.get("best_val_loss", float("nan")):.3f} |
| training time | {meta.get("train_seconds", 0) / 60:.1f} min |
| machine | {meta.get("machine")}, torch {meta.get("torch_version")} |

## Scores (resynthesis with the input's phase vs the peak-normalised input, both 16 kHz; mean ± 95 % CI)

{scores_table(results)}

Measured with `sdmresynth score --model {name}` on each set, {date.today().isoformat()}.
"""


def publish(checkpoint: Path, name: str, eval_sets: list[Path], aliases: tuple[str, ...] = (), notes: str = "",
            workers: int = 0, refine_steps: int | None = None, refine_kl_weight: float | None = None,
            ) -> dict[str, ModelSummary]:
    """Copy checkpoint to pretrained/NAME.pt, score it on each set (the first is the test split), write NAME.md
    and update index.json. refine_steps: ship it with that many code-refinement steps at encode time (the
    weights are unchanged; the config saved in the checkpoint says so), with the KL weighted by refine_kl_weight."""
    target_dir = pretrained_dir()
    target = target_dir / f"{name}.pt"
    loaded = load_checkpoint(checkpoint)  # refuse a bad file before touching pretrained/
    refinement = {key: value for key, value in (("refine_steps", refine_steps), ("refine_kl_weight", refine_kl_weight))
                  if value is not None}
    if refinement:
        config = dataclasses.replace(loaded.config, **refinement)
        metadata = loaded.metadata | {"refined_from": checkpoint.name}
        save_checkpoint(target, config, loaded.state_dict, metadata)
    elif checkpoint.resolve() != target.resolve():
        write_atomically(target, lambda temp: shutil.copyfile(checkpoint, temp))
    results = {}
    for eval_set in eval_sets:
        (results[eval_set.as_posix()],) = summarise(score_files([str(target)], files_from(eval_set), workers))
    card = model_card(name, target, results, notes)
    write_atomically(target_dir / f"{name}.md", lambda temp: Path(temp).write_text(card))
    index = read_index(target_dir)
    first = next(iter(results))
    index["models"][name] = index_entry(target, results[first], first)
    index.get("retired", {}).pop(name, None)
    for alias in aliases:
        index["aliases"][alias] = name
    index["models"] = dict(sorted(index["models"].items()))
    text = json.dumps(index, indent=2) + "\n"
    write_atomically(target_dir / INDEX_FILE, lambda temp: Path(temp).write_text(text))
    return results
