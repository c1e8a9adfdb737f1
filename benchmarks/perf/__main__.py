"""python -m benchmarks.perf [--quick] [--json] [NAME ...]: run the named benchmarks (all by default) and print each."""

import argparse
import importlib

from ..common import report
from . import NAMES

parser = argparse.ArgumentParser(description=__doc__.split(":")[1].strip())
parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(NAMES)}")
parser.add_argument("--quick", action="store_true", help="a few seconds each, for CI: numbers are not meaningful")
parser.add_argument("--json", action="store_true", help="one JSON object per benchmark instead of the tables")
args = parser.parse_args()
if set(args.names) - set(NAMES):
    parser.error(f"unknown benchmark {', '.join(sorted(set(args.names) - set(NAMES)))}: choose from {', '.join(NAMES)}")
for name in args.names or NAMES:
    report(importlib.import_module(f"{__package__}.{name}").run(args.quick), args.quick, args.json)
