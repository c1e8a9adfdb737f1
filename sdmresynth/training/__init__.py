"""Training: the frames of a corpus (framestore/, features, sets), mini-batches, the loop and its saved state, data
parallelism. Kept free of heavy imports at package level: the frame store's worker processes import from here."""
