"""Checkpoints: formats (blipctl runs, original BLIP `.pth`, transformers) behind one table
(`formats.FORMATS`), key maps between their names and blipctl's, warm start, and frozen
tensors stored by reference. Never imports `blipctl.engine`."""
