"""`sdmresynth cache`: the frame stores `train` built, listed or cleared."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--cache-dir", type=click.Path(path_type=Path), help="The frame store's folder "
              "(default ~/.cache/sdmresynth or $SDMRESYNTH_CACHE).")
@click.option("--clear", is_flag=True, help="Delete every store in it (they are rebuilt when needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def cache(cache_dir: Path | None, clear: bool, as_json: bool) -> None:
    """List the frame stores that `train` built (files, frames, size), or clear them."""
    import json

    from ..io.atomic import format_size
    from ..training.framestore.store import check_cache_dir, clear_stores, default_cache_dir, list_stores

    folder = cache_dir or default_cache_dir()
    check_cache_dir(folder)
    if clear:
        click.echo(f"cleared {folder}: {format_size(clear_stores(folder))} freed")
        return
    stores = list_stores(folder)
    if as_json:
        click.echo(json.dumps({"folder": str(folder), "stores": stores}))
        return
    click.echo(f"{folder}: {len(stores)} store(s), {format_size(sum(s['bytes'] for s in stores))}")
    for store in stores:
        what = {"complete": f"{store['files']} files, {store['frames']} {store['precision']} frames, built "
                            f"{store['created']}",
                "unfinished": "unfinished build (resumed by the next train on the same files)",
                "damaged": "damaged (rebuilt by the next train on the same files)"}[store["state"]]
        click.echo(f"  {store['name']}  {format_size(store['bytes'])}  {what}")
