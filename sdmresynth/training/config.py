"""Training settings: one frozen dataclass (saved in every checkpoint), the shipped models' recipe and the paper's
protocol, and both configurations made from a flat mapping of settings (what `sdmresynth train` parses)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..models import ModelConfig

LR_DECAY = 0.1  # the learning rate's factor at each of lr_decays
OBJECTIVES = ("elbo", "refinement")  # what TrainConfig.objective may name


@dataclass(frozen=True)
class TrainConfig:
    """The paper's protocol: Adam, batch 128, early stopping with patience 20, at most 500 epochs."""

    lr: float = 1e-4
    batch_size: int = 128
    patience: int = 20
    max_epochs: int = 500
    seed: int = 0
    grad_clip: float = 0.0  # max global gradient L2 norm; 0: no clipping (the paper's protocol)
    lr_decays: int = 0  # times a plateau restarts from the best weights at LR_DECAY times the learning rate
    frame_precision: str = "float32"  # how the training and validation frames are kept: float32 or bfloat16
    kl_weight: float = 1.0  # the KL's weight in the training loss (1: the ELBO)
    mean_weight: float = 0.0  # > 0: the IS divergence of the decoded posterior mean is added with this weight
    init_from: str = ""  # a checkpoint (path or shipped name) whose weights start the run: fine-tuning
    train_only: str = ""  # "encoder": only the encoder's weights train (the decoder and dictionary stay as they are);
    # "encoder-mean": only those that make its mean (the variances stay too); "decoder": the decoder and a learned
    # dictionary (the encoder stays)
    objective: str = "elbo"  # "refinement": the decoded mean's divergence + kl_weight x KL, what refinement minimises


# The recipe of the shipped models (the default) and the official code's setting (the paper's protocol); a setting
# given explicitly overrides either.
RECIPE = {"input_transform": "log", "standardise_input": True, "lr": 1e-3, "grad_clip": 2000.0}
PAPER_PROTOCOL = {"input_transform": "power", "standardise_input": False, "lr": 1e-4, "grad_clip": 0.0}


def configs_from_settings(settings: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configurations from flat settings (ModelConfig's and TrainConfig's field names, plus
    `paper_protocol`, `selector_anneal` = (c0, epochs) and `slab_warmup` = (start, end)); settings that are None or
    absent take the recipe's value, or the paper protocol's with `paper_protocol`, then the dataclasses' defaults."""
    defaults = PAPER_PROTOCOL if settings.get("paper_protocol") else RECIPE
    given = {k: v for k, v in settings.items() if v is not None}
    options = defaults | given
    model_type = options.get("model_type", "sdm-vae")
    latent_dim = options.get("latent_dim", 64)
    sdm = model_type == "sdm-vae"
    c0, anneal = options.get("selector_anneal", (0.0, 0))
    warmup_start, warmup_end = options.get("slab_warmup", (10, 20))
    model_fields = {k: options[k] for k in ("hidden_dim", "decoder_hidden_dim", "decoder_layers",
                                            "reconstruction_weight", "linear_skip", "soft_threshold",
                                            "input_transform", "standardise_input", "alpha", "pseudo_inputs",
                                            "selector_sharpness", "inference_steps", "inference_hidden_dim")
                    if k in options}
    if options.get("inference_steps"):  # the steps read the gradient of the objective they are trained on
        model_fields["refine_kl_weight"] = options.get("kl_weight", 1.0)
    try:
        model_config = ModelConfig(
            model_type=model_type, latent_dim=latent_dim, dictionary=options.get("dictionary", "dct") if sdm else
            "identity", atoms=(options.get("atoms") or latent_dim) if sdm else latent_dim,
            selector_sharpness_start=c0, selector_anneal_epochs=anneal, slab_warmup_start=warmup_start,
            slab_warmup_end=warmup_end, **model_fields)
    except ValueError as error:
        raise UserError(str(error)) from None
    train_fields = {k: options[k] for k in TrainConfig.__dataclass_fields__ if k in options}
    return model_config, TrainConfig(**train_fields)
