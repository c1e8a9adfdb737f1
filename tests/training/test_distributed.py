"""Data-parallel training with torchrun: 2 CPU processes (gloo) equal single-process training."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.io.corpus import split_by_speaker
from sdmresynth.training import distributed
from sdmresynth.training.features import file_frames

from ..conftest import COMMAND, SPEECH


@pytest.mark.parametrize("sweep", [[], ["--seeds", "0,1"]], ids=["one model", "a sweep of two"])
def test_two_processes_match_one(tmp_path, sweep):
    corpus = tmp_path / "corpus"
    for i, clip in enumerate([SPEECH, COMMAND, SPEECH, COMMAND]):
        (corpus / f"speaker{i}").mkdir(parents=True)
        shutil.copy(clip, corpus / f"speaker{i}" / f"{i}.wav")
    train_files, _ = split_by_speaker(sorted(corpus.rglob("*.wav")))
    frames = sum(len(file_frames(f, StftConfig())) for f in train_files)
    batch = next(b for b in (64, 32, 16, 8) if (frames % b) % 2 == 0)  # no frame is dropped for 2 processes
    common = ["train", "--data", str(corpus), "-L", "8", "-K", "16", "--hidden-dim", "32", "--max-epochs", "2",
              "--batch-size", str(batch), "--lr", "1e-3", "--no-cache", "--threads", "1", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = tmp_path / "single.pt"
    subprocess.run([sys.executable, "-m", "sdmresynth.cli", *common, *sweep, "--out", str(single)], check=True,
                   capture_output=True, env=env)
    parallel = tmp_path / "parallel.pt"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "sdmresynth.cli", *common, *sweep, "--out", str(parallel)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    names = ["-seed0", "-seed1"] if sweep else [""]
    assert done.stdout.count("done:") == len(names)  # only rank 0 reports
    for name in names:
        a = torch.load(single.with_stem(single.stem + name), weights_only=True)
        b = torch.load(parallel.with_stem(parallel.stem + name), weights_only=True)
        assert "2 processes" in b["metadata"]["machine"]
        for key in a["state_dict"]:
            torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=1e-4, atol=1e-5)
        assert np.isclose(a["metadata"]["best_val_loss"], b["metadata"]["best_val_loss"], rtol=1e-4)


def test_stop_leaves_the_process_group(tmp_path):
    """The train command leaves the group before exit (gloo's threads outliving the interpreter abort the process)."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    distributed.stop()
    assert not torch.distributed.is_initialized()
    distributed.stop()  # without a group: nothing to do
