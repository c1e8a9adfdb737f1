"""pretrained/train_zoo.sh trains what Table 1 reports: each row as a sweep of seeds 0, 1, 2 with two learning-rate
decays, resumable, one seed alone on request. The script's `train` command is captured, not run."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ..conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
# the variables train_zoo.sh reads
ZOO_SETTINGS = {"SEED", "SEEDS", "LR_DECAYS", "THREADS", "PAPER_PROTOCOL", "SPLITS", "RUNS", "PYTHON"}


def zoo_command(tmp_path, *names: str, **env: str) -> list[list[str]]:
    """The argument lists train_zoo.sh passes to its Python, one per run it starts."""
    log = tmp_path / "calls.txt"
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/usr/bin/env bash\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    runs = tmp_path / "runs"
    outer = {k: v for k, v in os.environ.items() if k not in ZOO_SETTINGS}  # the caller's own settings don't leak in
    subprocess.run(["bash", str(REPO / "pretrained" / "train_zoo.sh"), *names], check=True, capture_output=True,
                   env=outer | {"PYTHON": str(fake), "RUNS": str(runs)} | env)
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_a_row_trains_as_a_three_seed_sweep_with_two_decays(tmp_path):
    (args,) = zoo_command(tmp_path, "vsc-l16-a0.5")
    assert option(args, "--seeds") == "0,1,2" and option(args, "--lr-decays") == "2"
    assert option(args, "--out") == str(tmp_path / "runs" / "vsc-l16-a0.5.pt")
    assert option(args, "--alpha") == "0.5" and "--resume" not in args


def test_one_seed_alone_and_other_schedules_on_request(tmp_path):
    (args,) = zoo_command(tmp_path, "vae-l64", SEED="3", LR_DECAYS="0")
    assert option(args, "--seed") == "3" and "--seeds" not in args and option(args, "--lr-decays") == "0"


def test_an_interrupted_sweep_resumes_and_a_finished_single_run_is_skipped(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "vae-l16-seed0.state.pt").touch()
    (runs / "vae-l64.pt").touch()
    calls = zoo_command(tmp_path, "vae-l16")
    assert len(calls) == 1 and "--resume" in calls[0]
    assert zoo_command(tmp_path, "vae-l64", SEED="0") == calls  # nothing more was started
