"""How much Hoyer's sparsity index depends on the code's domain: IS-NMF-256's activations H (they scale with power)
and sqrt(H) (with amplitude), beside a model's codes w and w^2, on the LibriSpeech test split.

    python -m benchmarks.experiments.hoyer_domain [--model sdm-vae] [--every 2]

The IS-NMF dictionary is the one quality_vs_baselines fits (reused from its cache, fitted if missing).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ..common import TEST_LIST
from .quality_vs_baselines import fit_baselines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sdm-vae")
    parser.add_argument("--every", type=int, default=2, help="score every Nth file of the split")
    args = parser.parse_args()
    from sdmresynth.dsp.metrics import active_coefficients, hoyer
    from sdmresynth.dsp.nmf import ISNMFCode
    from sdmresynth.dsp.stft import power_spectrogram, stft
    from sdmresynth.inference.model import load_model
    from sdmresynth.io.audio import read_audio
    from sdmresynth.io.corpus import files_from

    torch.set_num_threads(1)
    with np.load(fit_baselines(quick=False)) as saved:
        nmf = ISNMFCode(saved["nmf256_atoms"])
    model = load_model(args.model, "cpu").model
    domains = {"IS-NMF-256 H": [], "IS-NMF-256 sqrt(H)": [], f"{args.model} w": [], f"{args.model} w^2": []}
    for path in files_from(TEST_LIST)[:: args.every]:
        samples = read_audio(path).samples.astype(np.float64)
        power = power_spectrogram(stft(samples / max(np.abs(samples).max(), 1e-12)))
        activations = nmf.encode(power)
        with torch.no_grad():
            codes = model.codes(torch.from_numpy(power)).numpy()
        for rows, code in zip(domains.values(), (activations, np.sqrt(activations), codes, codes**2)):
            rows.append((hoyer(code).mean(), active_coefficients(code).mean()))
    print("| code | Hoyer | active |\n| --- | ---: | ---: |")
    for name, rows in domains.items():
        print(f"| {name} | {np.mean([r[0] for r in rows]):.3f} | {np.mean([r[1] for r in rows]):.1f} |")


if __name__ == "__main__":
    main()
