"""Training settings from flat options: the recipe, the paper's protocol, overrides."""




def test_paper_protocol_is_one_flag_and_options_still_override_it():
    from sdmresynth.training.config import configs_from_settings

    options = {"model_type": "sdm-vae", "latent_dim": 8, "hidden_dim": 16, "dictionary": "dct", "atoms": None,
               "input_transform": None, "standardise_input": None, "alpha": 0.5, "pseudo_inputs": 10,
               "selector_sharpness": 100.0, "selector_anneal": (0.0, 0), "slab_warmup": (10, 20), "lr": None,
               "batch_size": 128, "patience": 20, "max_epochs": 5, "seed": 0, "grad_clip": None, "lr_decays": 0,
               "frame_precision": "float32"}
    model, train = configs_from_settings(options | {"paper_protocol": True})
    assert (model.input_transform, model.standardise_input, train.lr, train.grad_clip) == ("power", False, 1e-4, 0.0)
    model, train = configs_from_settings(options | {"paper_protocol": True, "lr": 5e-4})
    assert train.lr == 5e-4
