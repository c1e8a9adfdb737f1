"""The experiments that regenerate docs/*.md, calling the library."""
