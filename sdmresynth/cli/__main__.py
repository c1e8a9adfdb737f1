"""`python -m sdmresynth.cli ...`: the command line, as torchrun and subprocesses launch it."""

import sys

from . import main

sys.exit(main())
