"""Files in and out: audio, codes files, corpus lists and folders, output paths, atomic writes."""
