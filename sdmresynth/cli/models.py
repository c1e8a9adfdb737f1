"""`sdmresynth models`: the shipped models with their test-split scores (without importing torch)."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def models(as_json: bool) -> None:
    """List the shipped models with their test-split scores."""
    import json

    from ..io.shipped import ENHANCE_PRIOR, read_index

    index = read_index()
    if as_json:
        click.echo(json.dumps(index))
        return
    from rich import box
    from rich.table import Table

    from .console import stdout_console

    table = Table(title="shipped models (test split scores)", box=box.SIMPLE_HEAD, pad_edge=False, padding=0,
                  collapse_padding=True)
    for column in ("name", "type", "L", "K", "params", "pesq_wb", "pesq_nb", "stoi", "hoyer"):
        table.add_column(column, justify="left" if column in ("name", "type") else "right", no_wrap=True,
                         min_width=max(map(len, index["models"]), default=4) if column == "name" else None)
    for name, info in sorted(index["models"].items()):
        scores = info.get("test", {})
        table.add_row(name, model_type_label(info), str(info["latent_dim"]), str(info["atoms"]),
                      f"{info['params'] / 1000:.0f}k",
                      *(f"{scores[m]:.2f}" if m in scores else "-" for m in ("pesq_wb", "pesq_nb", "stoi", "hoyer")))
    console = stdout_console()
    console.print(table)
    for alias, name in sorted(index["aliases"].items()):
        console.print(f"alias: {alias} = {name}", soft_wrap=True)
    console.print(f"enhance's default speech prior: {ENHANCE_PRIOR}", soft_wrap=True)


def model_type_label(info: dict) -> str:
    """"SDM dct", "VSC a=0.2", "VAE": the model type with what tells its variants apart."""
    if info.get("dictionary"):
        return f"SDM {info['dictionary']}"
    if info.get("alpha") is not None:
        return f"VSC a={info['alpha']:g}"
    return info["model_type"].upper()
