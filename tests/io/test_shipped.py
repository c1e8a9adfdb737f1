import json

import pytest

from sdmresynth.errors import UserError
from sdmresynth.io.shipped import read_index, resolve_model

from ..conftest import REPO


def test_names_aliases_and_paths_resolve(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("SDMRESYNTH_PRETRAINED", str(tmp_path))
    (tmp_path / "tiny.pt").write_bytes(tiny_model.read_bytes())
    (tmp_path / "index.json").write_text(json.dumps({"aliases": {"default": "tiny"}, "models": {"tiny": {}}}))
    assert resolve_model("tiny") == ("tiny", tmp_path / "tiny.pt")
    assert resolve_model("default") == ("tiny", tmp_path / "tiny.pt")
    assert resolve_model(str(tiny_model)) == ("tiny", tiny_model)
    with pytest.raises(UserError, match="unknown model 'other'.*default, tiny"):
        resolve_model("other")
    with pytest.raises(UserError, match="no such model file"):
        resolve_model(str(tmp_path / "missing.pt"))


def test_a_retired_model_says_what_replaces_it(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("SDMRESYNTH_PRETRAINED", str(tmp_path))
    (tmp_path / "tiny.pt").write_bytes(tiny_model.read_bytes())
    index = {"aliases": {}, "models": {"tiny": {}}, "retired": {"old": "use --model tiny --refine-steps 50"}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(UserError, match="'old' is no longer shipped: use --model tiny --refine-steps 50"):
        resolve_model("old")
    assert resolve_model("tiny")[0] == "tiny"


def test_publish_writes_card_and_index(tmp_path, monkeypatch, tiny_model):
    from sdmresynth.evaluation.publish import publish

    from ..conftest import DATA

    monkeypatch.setenv("SDMRESYNTH_PRETRAINED", str(tmp_path))
    results = publish(tiny_model, "tiny-test", [DATA], aliases=("sdm-vae",), notes="A test model.", workers=1)
    assert results[DATA.as_posix()].files == 2
    index = read_index()
    assert index["aliases"] == {"sdm-vae": "tiny-test"}
    entry = index["models"]["tiny-test"]
    assert entry["atoms"] == 16 and entry["latent_dim"] == 8 and 0 <= entry["test"]["hoyer"] <= 1
    card = (tmp_path / "tiny-test.md").read_text()
    assert "A test model." in card and "pesq_wb" in card and "best validation loss" in card


def test_publish_with_code_refinement_keeps_the_weights(tmp_path, monkeypatch, tiny_model):
    import torch

    from sdmresynth.models.checkpoint import load_checkpoint
    from sdmresynth.evaluation.publish import publish

    from ..conftest import SPEECH

    monkeypatch.setenv("SDMRESYNTH_PRETRAINED", str(tmp_path))
    single = tmp_path / "one"
    single.mkdir()
    (single / "a.wav").write_bytes(SPEECH.read_bytes())
    publish(tiny_model, "tiny-refined", [single], workers=1, refine_steps=7)
    shipped, original = load_checkpoint(tmp_path / "tiny-refined.pt"), load_checkpoint(tiny_model)
    assert shipped.config.refine_steps == 7 and original.config.refine_steps == 0
    assert all(torch.equal(shipped.state_dict[k], original.state_dict[k]) for k in original.state_dict)


def test_shipped_index_is_consistent():
    index = read_index()
    for alias, name in index["aliases"].items():
        assert name in index["models"], alias
    for name in index.get("retired", {}):
        assert name not in index["models"] and not (REPO / "pretrained" / f"{name}.pt").exists(), name
    for name, entry in index["models"].items():
        _, path = resolve_model(name)
        assert path.stat().st_size < (5_000_000 if entry["hidden_dim"] > 128 else 1_000_000)  # the default: 3.9 MB
        assert path.with_suffix(".md").is_file()
        assert {"pesq_wb", "pesq_nb", "stoi", "hoyer"} <= set(entry["test"])


def test_a_wheel_carries_every_shipped_model(tmp_path):
    """A non-editable install must find the models: the wheel maps pretrained/ to sdmresynth/pretrained."""
    import shutil
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools", reason="building a wheel without isolation needs setuptools")
    root = REPO
    source = tmp_path / "source"  # a clean copy: no build/ left over from an earlier wheel, none left in the repo
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(root / part, source)
    for part in ("sdmresynth", "pretrained"):
        shutil.copytree(root / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, f"the wheel does not build: {build.stderr.strip()[-400:]}"
    (wheel,) = tmp_path.glob("sdmresynth-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = json.loads((root / "pretrained" / "index.json").read_text())["models"]
    assert "sdmresynth/pretrained/index.json" in names
    assert {f"sdmresynth/pretrained/{name}.pt" for name in shipped} <= names
