"""Models on the command line: names, typos, bad checkpoints, the index; `models` and `--help` without torch."""

import os
import subprocess
import sys

import pytest
import torch

from sdmresynth.errors import UserError

from ..conftest import REPO, SPEECH, assert_clean_failure, run


def test_help_and_models_do_not_import_torch():
    for args in (["--help"], ["models"], ["models", "--json"]):
        code = ("import sys; from sdmresynth.cli import main\n"
                f"try: main({args!r})\nexcept SystemExit: pass\n"
                "assert 'torch' not in sys.modules, 'torch imported'")
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _bad_checkpoints(folder, tiny_model):
    good = tiny_model.read_bytes()
    (folder / "truncated.pt").write_bytes(good[: len(good) // 3])
    (folder / "garbage.pt").write_bytes(os.urandom(4096))
    torch.save({"layer.weight": torch.zeros(3)}, folder / "foreign.pt")
    torch.save([1, 2, 3], folder / "list.pt")
    payload = torch.load(tiny_model, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, folder / "newer.pt")
    torch.save({"format": "sdmresynth", "config": _Exploit()}, folder / "evil.pt")
    return sorted(folder.glob("*.pt"))


@pytest.mark.parametrize("command", ["resynth", "encode", "score"])
def test_bad_checkpoints_are_refused(tmp_path, tiny_model, monkeypatch, command):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.chdir(tmp_path)
    for checkpoint in _bad_checkpoints(models, tiny_model):
        args = {"resynth": ["resynth", SPEECH, tmp_path / "o.wav"], "encode": ["encode", SPEECH, "-o", tmp_path / "c.npz"],
                "score": ["score", "--data", SPEECH.parent, "--workers", "1"]}[command]
        result = run(*args, "-m", checkpoint)
        assert_clean_failure(result, str(checkpoint))
        if checkpoint.name == "newer.pt":
            assert "newer" in result.output
        if checkpoint.name == "evil.pt":
            assert "refused" in result.output
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o.wav").exists()


def test_corrupt_model_index_is_a_clean_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SDMRESYNTH_PRETRAINED", str(tmp_path))
    (tmp_path / "index.json").write_text("{not json")
    assert_clean_failure(run("models"), "index.json")


def test_a_file_that_is_no_checkpoint_is_called_so():
    result = run("resynth", SPEECH, "/tmp/x.wav", "-m", REPO / "README.md")
    assert result.exit_code == 1 and "not an sdmresynth checkpoint" in result.output
    assert "run code" not in result.output


def test_model_name_typos_get_a_suggestion_and_the_confusing_alias_is_gone():
    from sdmresynth.io.shipped import resolve_model

    with pytest.raises(UserError, match="did you mean sdm-vae\\?"):
        resolve_model("sdm-vea")
    with pytest.raises(UserError, match="did you mean sdm-vae-dct-l64-k256"):
        resolve_model("sdm-vae-log-dct-l64-k256")


def test_models_table_keeps_names_whole_when_piped():
    assert " sdm-vae-log-dct-l64-k256-libri-so762 " in run("models").output


def test_models_table_names_the_default_model_and_enhances_prior():
    from sdmresynth.io.shipped import DEFAULT_MODEL, ENHANCE_PRIOR, read_index

    output = run("models").output
    assert f"alias: {DEFAULT_MODEL} = {read_index()['aliases'][DEFAULT_MODEL]}" in output
    assert f"enhance's default speech prior: {ENHANCE_PRIOR}" in output and f" {ENHANCE_PRIOR} " in output
