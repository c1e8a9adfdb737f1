"""The training loops' CUDA-graph path (graphs.py): the full batches' steps on buffers, the noise drawn beforehand, the
last, smaller batch run as before. On the CPU those steps run eagerly and must equal the plain loop exactly; on a GPU
(skipped without one) the recorded and replayed steps must equal it up to float rounding."""

import pytest
import torch

from sdmresynth.dsp.stft import StftConfig
from sdmresynth.models import ModelConfig
from sdmresynth.training import distributed
from sdmresynth.training.config import TrainConfig
from sdmresynth.training.features import file_frames
from sdmresynth.training.graphs import use_graphs
from sdmresynth.training.loop import start_run, train_epoch
from sdmresynth.training.sweep import train_epoch_together

from ..conftest import SPEECH

DEVICES = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
MODELS = [ModelConfig(latent_dim=8, atoms=16, hidden_dim=16, dictionary="learned"),
          ModelConfig(model_type="vsc", latent_dim=8, hidden_dim=16, slab_warmup_start=0, slab_warmup_end=1)]
CONFIG = TrainConfig(lr=1e-3, grad_clip=50, batch_size=32)


@pytest.fixture(scope="module")
def frames():
    torch.set_num_threads(1)
    frames = file_frames(SPEECH, StftConfig())
    assert len(frames) % CONFIG.batch_size  # a last, smaller batch, which runs outside the graph
    return frames


def same(a: torch.Tensor, b: torch.Tensor, device: torch.device) -> None:
    exact = device.type == "cpu"
    torch.testing.assert_close(a, b, rtol=0 if exact else 1e-4, atol=0 if exact else 1e-5)


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("model", MODELS, ids=["sdm-vae-learned", "vsc-warm-up"])
def test_a_run_through_step_graphs_equals_the_plain_loop(frames, model, device):
    plain, graphed = (start_run(model, CONFIG, frames, device, None) for _ in range(2))
    graphs = []
    for epoch in range(3):  # the graph kept over VSC's warm-up (its weights are buffers), made anew after a decay
        if epoch == 2:
            plain.decay(), graphed.decay()
        same(torch.tensor(train_epoch(graphed, CONFIG, frames, graphs=True)),
             torch.tensor(train_epoch(plain, CONFIG, frames, graphs=False)), device)
        graphed.state.epoch = plain.state.epoch = plain.state.epoch + 1
        graphs.append(graphed.step_graph)
    assert graphs[0] is graphs[1] and graphs[2] is not graphs[1] and plain.step_graph is None
    for p, q in zip(plain.model.parameters(), graphed.model.parameters()):
        same(q, p, device)


@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_a_sweep_through_step_graphs_equals_the_plain_sweep(frames, device):
    configs = [TrainConfig(lr=1e-3, grad_clip=50, batch_size=32, seed=seed) for seed in (0, 1, 2)]
    plain, graphed = ([start_run(MODELS[0], c, frames, device, None) for c in configs] for _ in range(2))
    for _ in range(2):
        same(torch.tensor(train_epoch_together(graphed, configs, frames, graphs=True)),
             torch.tensor(train_epoch_together(plain, configs, frames, graphs=False)), device)
    for a, b in zip(plain, graphed):
        for p, q in zip(a.model.parameters(), b.model.parameters()):
            same(q, p, device)


def test_graphs_are_used_by_default_on_a_gpu_only():
    adam = torch.optim.Adam([torch.zeros(1)], fused=True)
    assert not use_graphs(None, torch.device("cpu"), distributed.Shard(), [adam])
    assert use_graphs(True, torch.device("cpu"), distributed.Shard(), [adam])
