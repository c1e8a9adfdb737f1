"""Phase reconstruction from a magnitude spectrogram: the fast Griffin-Lim algorithm.

N. Perraudin, P. Balazs and P. L. Sondergaard, "A fast Griffin-Lim algorithm", WASPAA 2013: Griffin and Lim's
alternating projections (consistent STFT <-> given magnitude) with a momentum term alpha, which converges in far
fewer iterations than the original (alpha = 0). Uses the project's own sine-window STFT, so the result is
consistent with every other signal path.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .stft import StftConfig, istft, stft, with_phase_of

GRIFFIN_LIM_ITERATIONS = 100
MOMENTUM = 0.99


def griffin_lim(magnitude: np.ndarray, length: int, iterations: int = GRIFFIN_LIM_ITERATIONS,
                momentum: float = MOMENTUM, seed: int = 0, cfg: StftConfig = StftConfig(),
                block: int = 1024, on_iteration: Callable[[int, int], None] | None = None) -> np.ndarray:
    """A signal (length,) whose STFT magnitude approximates magnitude (T, F), from a seeded random phase.

    Each step's transforms run `block` frames at a time: what a long file holds is the estimate and the previous
    consistent spectrogram (with the magnitude and the signal), not the several whole-spectrogram temporaries of a
    step. on_iteration(done, iterations) reports progress."""
    rng = np.random.default_rng(seed)
    frames = len(magnitude)
    blocks = [slice(start, min(start + block, frames)) for start in range(0, frames, block)]
    estimate = np.empty(magnitude.shape, dtype=complex)
    for part in blocks:  # the same random phases as one draw of the whole shape
        phase = np.exp(2j * np.pi * rng.random(magnitude[part].shape))
        estimate[part] = with_phase_of(magnitude[part], phase, silent=1.0)
    previous = np.zeros_like(estimate)
    for iteration in range(1, iterations + 1):
        signal = istft(estimate, length, cfg, block)
        for part in blocks:
            consistent = stft(signal, cfg, part.start, part.stop)
            accelerated = consistent - previous[part]  # consistent + momentum (consistent - previous), in place
            accelerated *= momentum
            accelerated += consistent
            previous[part] = consistent
            del consistent
            estimate[part] = with_phase_of(magnitude[part], accelerated, silent=1.0)
        del signal  # not held while the next step's signal is made
        if on_iteration:
            on_iteration(iteration, iterations)
    return istft(estimate, length, cfg, block)
