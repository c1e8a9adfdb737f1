"""The README holds true: its Python example runs as written from the repository's root, and the scores it quotes
for the shipped models are the index's, rounded as `sdmresynth models` rounds them."""

from __future__ import annotations

import json
import os
import re

from .conftest import REPO

README = (REPO / "README.md").read_text()


def test_the_python_example_runs_as_written_from_the_repository_root(tmp_path, monkeypatch):
    (example,) = re.findall(r"```python\n(.*?)```", README, re.S)
    (tmp_path / "examples").symlink_to(REPO / "examples")  # the root's files, with its outputs written elsewhere
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert (tmp_path / "out.wav").is_file()


def test_quoted_scores_are_the_index_rounded_as_the_models_command_rounds_them():
    index = json.loads((REPO / "pretrained" / "index.json").read_text())["models"]
    quoted = re.findall(r"\| `([\w.-]+)`[^|]*\| [^|]*Test split: PESQ-WB (\d\.\d+), PESQ-NB (\d\.\d+), STOI (\d\.\d+), "
                        r"Hoyer (\d\.\d+)", README)
    assert quoted, "the README quotes test-split scores of its shipped models"
    for name, *values in quoted:
        scores = index[name]["test"]
        for metric, value in zip(("pesq_wb", "pesq_nb", "stoi", "hoyer"), values):
            digits = len(value.split(".")[1])
            assert value == f"{scores[metric]:.{digits}f}", f"{name} {metric}: README {value}, index {scores[metric]}"
    assert os.path.isfile(REPO / "pretrained" / "index.json")
