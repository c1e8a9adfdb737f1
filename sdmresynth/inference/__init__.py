"""Using a trained model: load it, encode, decode and resynthesise signals, edit codes, enhance noisy speech, and
run these on files, one or many (sdmresynth.api gathers the public names)."""
