"""The model hyper-parameters: one frozen dataclass, saved inside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

MODEL_TYPES = ("vae", "sdm-vae", "vsc")
DICTIONARIES = ("identity", "dct", "learned")
INPUT_TRANSFORMS = ("power", "log")
RECONSTRUCTION_WEIGHTS = ("none", "bark")


@dataclass(frozen=True)
class ModelConfig:
    """Shape and kind of a spectral VAE (paper: 513-128-L, tanh, power-spectrogram input)."""

    model_type: str = "sdm-vae"
    latent_dim: int = 64
    hidden_dim: int = 128
    decoder_hidden_dim: int = 0  # the decoder's tanh layers' width (0: hidden_dim, as the paper)
    decoder_layers: int = 1  # tanh layers in the decoder (the paper: 1)
    input_dim: int = 513
    linear_skip: bool = False  # encoder mean and decoder output also get a linear path (not in the paper)
    soft_threshold: bool = False  # the encoder's mean passes a soft threshold learned per atom: exact zeros
    dictionary: str = "dct"  # SDM-VAE only
    atoms: int = 64  # K, the size of the code w (SDM-VAE only)
    reconstruction_weight: str = "none"  # "bark": the IS divergence weighted per bin by the Bark scale's density
    input_transform: str = "power"  # "power": |S|^2 as the paper; "log": log(|S|^2 + floor)
    standardise_input: bool = False  # per-bin mean/std of the (transformed) training input, kept in the model
    # VSC only (Tonolini et al. 2020; defaults from the authors' code, see models/vsc.py)
    alpha: float = 0.5  # prior spike probability: lower is sparser
    selector_sharpness: float = 100.0  # c in s = sigmoid(c (eta + gamma - 1))
    selector_sharpness_start: float = 0.0  # > 0: c grows linearly from this value to selector_sharpness ...
    selector_anneal_epochs: int = 0  # ... over this many epochs (the authors' PyTorch code grows c during training)
    pseudo_inputs: int = 10  # learned pseudo-inputs of the prior (0: a fixed N(0, 1) slab)
    pseudo_sharpness: float = 10.0  # nu: sharpening of the pseudo-inputs' spike probabilities
    slab_warmup_start: int = 10  # epochs with the spikes only, before the slab is phased in
    slab_warmup_end: int = 20  # epoch from which the slab is fully used
    # Iterative amortised inference (VAE and SDM-VAE): learned steps after the encoder, each reading the gradient of
    # the refinement's objective (models/iterative.py); trained, unlike the refinement, and saved with the weights.
    inference_steps: int = 0
    inference_hidden_dim: int = 512
    # Encoding (VAE and SDM-VAE): refine the encoder's posterior mean of each frame by this many Adam steps on the
    # frame's negative ELBO (0: the encoder's output as is). Inference only: training never uses it.
    refine_steps: int = 0
    refine_lr: float = 0.02
    refine_kl_weight: float = 1.0  # > 1 trades fidelity for sparsity (the SDM-VAE's KL is a sparsity penalty); the
    # objective's KL weight for the inference steps' gradient too

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"unknown model type {self.model_type!r} ({', '.join(MODEL_TYPES)})")
        if self.dictionary not in DICTIONARIES:
            raise ValueError(f"unknown dictionary {self.dictionary!r} ({', '.join(DICTIONARIES)})")
        if self.reconstruction_weight not in RECONSTRUCTION_WEIGHTS:
            raise ValueError(f"unknown reconstruction weight {self.reconstruction_weight!r}")
        if self.input_transform not in INPUT_TRANSFORMS:
            raise ValueError(f"unknown input transform {self.input_transform!r}")
        if min(self.latent_dim, self.hidden_dim, self.input_dim, self.atoms, self.decoder_layers) < 1:
            raise ValueError("dimensions must be positive")
        if self.decoder_hidden_dim < 0:
            raise ValueError("decoder_hidden_dim must not be negative (0: hidden_dim)")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.selector_sharpness_start < 0 or self.selector_anneal_epochs < 0:
            raise ValueError("the selector's start sharpness and anneal epochs must not be negative")
        if self.slab_warmup_end < self.slab_warmup_start:
            raise ValueError("slab_warmup_end must not be before slab_warmup_start")
        if self.refine_steps < 0 or self.refine_lr <= 0 or self.refine_kl_weight <= 0:
            raise ValueError("refine_steps must not be negative, refine_lr and refine_kl_weight must be positive")
        if (self.linear_skip or self.soft_threshold) and self.model_type == "vsc":
            raise ValueError("linear_skip and soft_threshold are for the VAE and SDM-VAE")
        if self.inference_steps < 0 or self.inference_hidden_dim < 1:
            raise ValueError("inference_steps must not be negative and inference_hidden_dim must be positive")
        if (self.refine_steps or self.inference_steps) and self.model_type == "vsc":
            raise ValueError("code refinement and inference steps are for the VAE and SDM-VAE (a VSC code is gated)")
        if self.model_type == "sdm-vae" and self.dictionary == "identity" and self.atoms != self.latent_dim:
            raise ValueError("an identity dictionary needs atoms == latent_dim")

    @property
    def decoder_width(self) -> int:
        """Width of the decoder's tanh layers."""
        return self.decoder_hidden_dim or self.hidden_dim

    @property
    def code_dim(self) -> int:
        """Size of the interpretable code: K for SDM-VAE, L otherwise."""
        return self.atoms if self.model_type == "sdm-vae" else self.latent_dim

    def relevant_settings(self) -> dict:
        """The settings that matter for this model type (for model cards)."""
        vsc_only = {"alpha", "selector_sharpness", "selector_sharpness_start", "selector_anneal_epochs", "pseudo_inputs", "pseudo_sharpness", "slab_warmup_start",
                    "slab_warmup_end"}
        sdm_only = {"dictionary", "atoms"}
        skip = (set() if self.model_type == "vsc" else vsc_only) | (set() if self.model_type == "sdm-vae" else sdm_only)
        return {k: v for k, v in asdict(self).items() if k not in skip}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**data)
