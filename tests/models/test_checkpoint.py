import pickle

import pytest
import torch

from sdmresynth.errors import UserError
from sdmresynth.models import ModelConfig, build_model
from sdmresynth.models.checkpoint import FORMAT_VERSION, load_checkpoint, model_from_checkpoint, save_checkpoint


def test_round_trip_keeps_config_weights_and_metadata(tmp_path):
    config = ModelConfig(latent_dim=8, atoms=32, dictionary="learned")
    model = build_model(config)
    path = tmp_path / "m.pt"
    save_checkpoint(path, config, model.state_dict(), {"epochs": 3, "note": "x"})
    loaded = load_checkpoint(path)
    assert loaded.config == config and loaded.metadata == {"epochs": 3, "note": "x"}
    rebuilt = model_from_checkpoint(loaded, path)
    power = torch.rand(2, 513)
    torch.testing.assert_close(rebuilt.reconstruct(power), model.eval().reconstruct(power))


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, ModelConfig(), build_model(ModelConfig()).state_dict(), {})
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(UserError, match="not an sdmresynth checkpoint"):
        load_checkpoint(foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(UserError):
        load_checkpoint(text)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "new.pt"
    torch.save({"format": "sdmresynth", "format_version": FORMAT_VERSION + 1, "kind": "model"}, path)
    with pytest.raises(UserError, match="newer"):
        load_checkpoint(path)


class _Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_checkpoint_that_runs_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "sdmresynth", "payload": _Exploit()}, path, pickle_module=pickle)
    with pytest.raises(UserError, match="refused"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_mismatched_weights_are_a_user_error(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, ModelConfig(latent_dim=8, atoms=8), build_model(ModelConfig()).state_dict(), {})
    with pytest.raises(UserError, match="do not match"):
        model_from_checkpoint(load_checkpoint(path), path)
