"""blipctl: train, evaluate and run BLIP, BLIP-2 and InstructBLIP from the shell.

Importing this package is cheap on purpose: torch and transformers are imported by the
modules that need them, so `blipctl --help` and shell completion stay fast.
"""

__version__ = "0.1.0"
