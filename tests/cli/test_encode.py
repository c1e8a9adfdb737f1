"""`sdmresynth encode`: codes files, summaries and JSON, batches, pictures."""

import json

import numpy as np
import pytest

from ..conftest import COMMAND, REPO, SPEECH, run


def test_encode_writes_codes_and_json_summary(tmp_path, tiny_model):
    out = tmp_path / "codes.npz"
    result = run("encode", SPEECH, "-o", out, "-m", tiny_model, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with np.load(out) as codes:
        assert codes["codes"].shape == (summary["frames"], 16) and codes["z"].shape == (summary["frames"], 8)
        assert int(codes["hop"]) == 256 and int(codes["sample_rate"]) == 16000
        assert summary["hoyer"] == pytest.approx(codes["hoyer"].mean())
    assert {"hoyer", "frames", "atoms", "model"} <= set(summary) and summary["atoms"] == 16


def test_encode_refuses_an_output_that_is_not_named_npz(tmp_path, tiny_model):
    result = run("encode", SPEECH, "-o", tmp_path / "codes.txt", "-m", tiny_model)
    assert result.exit_code == 1 and "codes are written as an .npz archive" in result.output
    assert not list(tmp_path.iterdir())


def test_encode_prints_a_readable_summary(tmp_path, tiny_model):
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model)
    assert result.exit_code == 0 and "Hoyer" in result.output and "most active atoms" in result.output


def test_batch_encode_json(tmp_path, tiny_model):
    out = tmp_path / "codes"
    result = run("encode", SPEECH, COMMAND, "-o", out, "-m", tiny_model, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index('{"files"'):].splitlines()[0])
    assert len(payload["files"]) == 2 and payload["failed"] == []
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem + ".codes.npz" for p in (SPEECH, COMMAND))


def test_encode_plot_draws_a_png(tmp_path, tiny_model):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "codes.png"
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model, "--plot", picture)
    assert result.exit_code == 0, result.output
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, tiny_model, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = run("encode", SPEECH, "-o", tmp_path / "c.npz", "-m", tiny_model, "--plot", tmp_path / "p.png")
    from sdmresynth.evaluation.plots import INSTALL_HINT

    assert result.exit_code == 1 and INSTALL_HINT in result.output
    assert INSTALL_HINT in (REPO / "README.md").read_text(), "one advice, here and in the README"


def test_encode_summary_says_where_the_picture_went(capsys):
    from sdmresynth.cli.encode import print_summary

    print_summary({"file": "a.wav", "output": "a.codes.npz", "model": "m", "model_type": "sdm-vae", "frames": 2,
                   "seconds": 0.1, "atoms": 4, "latent_dim": 2, "hoyer": 0.5, "top_atoms": [], "plot": "pic.png"})
    assert "picture: pic.png" in capsys.readouterr().out
