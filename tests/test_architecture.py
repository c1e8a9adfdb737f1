"""The package's shape, read from its source (docs/architecture.md): layers whose imports point down, no cycle, a
thin command line, short functions, and every package in the distribution."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "sdmresynth"
# Each layer may import its own and lower layers only; the two at the same height do not import each other.
LAYERS = {"errors": 0, "workers": 0, "dsp": 1, "io": 2, "device": 3, "models": 3, "training": 4, "inference": 4,
          "evaluation": 5, "api": 6, "cli": 7}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str, path: Path) -> set[str]:
    """Every sdmresynth module `name` imports anywhere in its source (in functions and under TYPE_CHECKING too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sdmresynth")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.startswith("sdmresynth"):
                found |= {f"{base}.{a.name}" for a in node.names} | {base}
    known = modules()
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    return {name: imports(name, path) for name, path in modules().items()}


def layer(module: str) -> tuple[int, str]:
    top = module.split(".")[1] if "." in module else "__init__"
    return LAYERS.get(top, -1), top


def test_no_import_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target] if target in trail else [node, target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, cycles


def test_every_import_points_down():
    wrong = []
    for name, targets in graph().items():
        if name == "sdmresynth":
            continue
        height, top = layer(name)
        assert height >= 0, f"{name}: a module outside the layers of tests/test_architecture.py"
        for target in targets:
            target_height, target_top = layer(target)
            if target_top != top and (target_height > height or target_height == height):
                wrong.append(f"{name} -> {target}")
    assert not wrong, wrong


def test_few_modules_at_the_top():
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= 12, top


def test_the_command_line_alone_speaks_to_people():
    speaking = re.compile(r"^\s*(import click|from click|from rich|import rich)|\bprint\(|\bConsole\(", re.M)
    wrong = [name for name, path in modules().items()
             if not name.startswith("sdmresynth.cli") and speaking.search(path.read_text())]
    assert not wrong, wrong


def test_functions_fit_on_a_screen():
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, long


def test_the_distribution_holds_every_package():
    declared = re.search(r"packages = \[([^\]]*)\]", (REPO / "pyproject.toml").read_text()).group(1)
    listed = set(re.findall(r'"([\w.]+)"', declared))
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, packages - listed


def test_the_benchmarks_import_only_what_the_package_has():
    """Every name the benchmarks import from sdmresynth exists (read from their source, so that a benchmark left on
    an old layout fails here, not when someone runs it)."""
    import importlib

    missing = []
    for path in sorted((REPO / "benchmarks").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdmresynth") and not node.level:
                try:
                    module = importlib.import_module(node.module)
                except ImportError:
                    missing.append(f"{path.name}: {node.module}")
                    continue
                missing += [f"{path.name}: {node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)
                            and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("sdmresynth") and importlib.util.find_spec(alias.name) is None:
                        missing.append(f"{path.name}: {alias.name}")
    assert not missing, missing
