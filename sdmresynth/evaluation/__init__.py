"""Evaluation: scoring models on files (Table 1), the classical baselines, the results page, shipping a model,
pictures."""
