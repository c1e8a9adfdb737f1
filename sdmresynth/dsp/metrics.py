"""Quality and sparsity metrics, each named by its exact variant: pesq_wb, pesq_nb, stoi, estoi, si_sdr, hoyer."""

from __future__ import annotations

import warnings

import numpy as np

METRIC_NAMES = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "hoyer")


def hoyer(codes: np.ndarray) -> np.ndarray:
    """Hoyer sparsity per row of (T, K) codes, in [0, 1]: (sqrt(K) - |v|_1/|v|_2) / (sqrt(K) - 1).

    An all-zero row counts as maximally sparse (1.0).
    """
    codes = np.asarray(codes, dtype=np.float64)
    k = codes.shape[-1]
    if k < 2:
        return np.ones(codes.shape[:-1])
    l1 = np.abs(codes).sum(axis=-1)
    l2 = np.sqrt((codes**2).sum(axis=-1))
    ratio = np.divide(l1, l2, out=np.ones_like(l1), where=l2 > 0)
    return (np.sqrt(k) - ratio) / (np.sqrt(k) - 1)


def active_coefficients(codes: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    """Per row of (T, K) codes, how many coefficients exceed `fraction` of the row's largest magnitude (T,): a count
    of active atoms that, unlike Hoyer's index, reads the same at any K."""
    magnitude = np.abs(np.asarray(codes, dtype=np.float64))
    return (magnitude > fraction * magnitude.max(axis=-1, keepdims=True)).sum(axis=-1)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB."""
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    scale = np.dot(estimate, reference) / max(np.dot(reference, reference), 1e-20)
    target = scale * reference
    noise = estimate - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-20) / max(np.dot(noise, noise), 1e-20)))


def quality_metrics(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = 16000) -> dict[str, float]:
    """PESQ (P.862.2 wide-band and P.862 narrow-band MOS-LQO), STOI, ESTOI and SI-SDR of one file.

    Raises ValueError with a readable reason when a metric cannot score the file (e.g. silence).
    """
    from pesq import pesq
    from pesq.cypesq import PesqError

    if sample_rate != 16000:
        raise ValueError(f"metrics need 16 kHz audio, got {sample_rate} Hz")
    if len(reference) != len(estimate):
        raise ValueError(f"reference and estimate lengths differ ({len(reference)} != {len(estimate)})")
    if not np.any(reference):
        raise ValueError("the reference is digital silence: PESQ cannot score it")
    try:
        pesq_wb = pesq(sample_rate, reference, estimate, "wb")
        pesq_nb = pesq(sample_rate, reference, estimate, "nb")
    except PesqError as error:
        raise ValueError(f"PESQ cannot score this file ({type(error).__name__})") from None
    return {
        "pesq_wb": float(pesq_wb),
        "pesq_nb": float(pesq_nb),
        "stoi": _stoi(reference, estimate, sample_rate, extended=False),
        "estoi": _stoi(reference, estimate, sample_rate, extended=True),
        "si_sdr": si_sdr(reference, estimate),
    }


def _stoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, extended: bool) -> float:
    """pystoi's (E)STOI; its placeholder 1e-5 for speech too short after silence removal becomes an error."""
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = stoi(reference, estimate, sample_rate, extended=extended)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ValueError("too little speech for STOI (fewer than 30 non-silent 25 ms frames after silence removal)")
    return float(value)
