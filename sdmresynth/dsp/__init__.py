"""Signal processing as pure functions: the STFT and its inverse, phase reconstruction, IS-NMF, divergences and
metrics. Depends on nothing else in the package."""
