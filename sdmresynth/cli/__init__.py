"""The `sdmresynth` command line: thin commands (one module each) that parse, call the library and print.

Heavy imports (torch, numpy, scipy) happen inside the commands so that `--help` answers fast.
"""

from __future__ import annotations

import sys

import click

from ..errors import UserError
from .cache import cache
from .decode import decode
from .encode import encode
from .enhance import enhance
from .models import models
from .publish import publish
from .resynth import resynth
from .score import score
from .train import train


def as_flags(parameters: tuple[str, ...]) -> str:
    """The options of the library's parameter names: ("lr", "grad_clip") -> " (--lr, --grad-clip)"."""
    return f" ({', '.join('--' + name.replace('_', '-') for name in parameters)})" if parameters else ""


class FriendlyGroup(click.Group):
    """Turns UserError into a one-line message (with the options that would get the user on) and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error) + as_flags(error.parameters)) from None


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="sdmresynth")
def main() -> None:
    """Speech analysis-resynthesis with sparse variational autoencoders (SDM-VAE)."""


for command in (train, encode, resynth, enhance, decode, cache, models, score, publish):
    main.add_command(command)


if __name__ == "__main__":
    sys.exit(main())
