"""`sdmresynth publish` (maintainers): ship a checkpoint in pretrained/ with a model card and its scores."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The shipped name, e.g. sdm-vae-dct-l64-k64.")
@click.option("--eval", "eval_sets", type=click.Path(path_type=Path), multiple=True, required=True,
              help="Split list or directory to score it on; repeatable; the first is the test split.")
@click.option("--alias", "aliases", multiple=True, help="Also answer to this name (e.g. sdm-vae). Repeatable.")
@click.option("--notes", default="", help="Free text for the top of the model card (what it is, why these settings).")
@click.option("--workers", type=click.IntRange(0), default=0, help="Scoring processes (0: one per CPU).")
@click.option("--refine-steps", type=click.IntRange(0), help="Ship it with this many code-refinement steps at "
              "encode time (VAE, SDM-VAE; weights unchanged).")
@click.option("--refine-kl-weight", type=click.FloatRange(0, min_open=True), help="Weight of the KL in that "
              "refinement (default 1, the ELBO; above 1 sparser codes, less fidelity).")
def publish(checkpoint: Path, name: str, eval_sets, aliases, notes: str, workers: int,
            refine_steps: int | None, refine_kl_weight: float | None) -> None:
    """(Maintainers) Ship CHECKPOINT in pretrained/ with a model card and its test-split scores."""
    from ..evaluation.publish import publish as publish_model

    results = publish_model(checkpoint, name, list(eval_sets), aliases, notes, workers, refine_steps, refine_kl_weight)
    for eval_set, summary in results.items():
        click.echo(f"{name} on {eval_set}: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.mean.items()))
