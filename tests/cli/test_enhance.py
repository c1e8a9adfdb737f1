"""`sdmresynth enhance` on files and folders, with the library's defaults."""

import numpy as np
import soundfile as sf

from sdmresynth.cli import main
from sdmresynth.inference.enhance import EnhanceConfig

from ..conftest import SPEECH, run


def test_cli_enhances_files_and_folders_and_refuses_vsc(tmp_path):
    clip = sf.read(SPEECH)[0][:16000]
    noisy = clip + 0.05 * np.random.default_rng(4).standard_normal(len(clip))
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "noisy.wav", noisy, 16000)
    sf.write(folder / "silent.wav", np.zeros(4000), 16000)
    (folder / "broken.wav").write_text("not audio")
    result = run("enhance", folder / "noisy.wav", tmp_path / "clean.flac", "-m", "vae-l64", "--iterations", "3")
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "clean.flac").frames == len(noisy)
    result = run("enhance", folder, tmp_path / "out", "-m", "vae-l64", "--iterations", "3")
    assert result.exit_code == 1 and "wrote 2 of 3 files" in result.output and "broken.wav" in result.output
    assert "digital silence" in result.output
    assert not np.any(sf.read(tmp_path / "out" / "silent.wav")[0])
    result = run("enhance", folder / "noisy.wav", tmp_path / "x.wav", "-m", "vsc-l64-a0.5")
    assert result.exit_code == 1 and "not VSC" in result.output and not (tmp_path / "x.wav").exists()
    assert "Traceback" not in result.output


def test_cli_defaults_are_the_library_defaults():
    from sdmresynth.io.shipped import ENHANCE_PRIOR
    from sdmresynth.io.shipped import read_index

    defaults = EnhanceConfig()
    options = {p.name: p.default for p in main.commands["enhance"].params}
    assert options["model_name"] == ENHANCE_PRIOR and ENHANCE_PRIOR in read_index()["models"]
    names = ("noise_rank", "iterations", "code_steps", "wiener_exponent", "code_smoothness")
    assert [options[name] for name in names] == [getattr(defaults, name) for name in names]
    assert f"lr {defaults.code_lr:g}" in main.commands["enhance"].params[
        [p.name for p in main.commands["enhance"].params].index("code_steps")].help
