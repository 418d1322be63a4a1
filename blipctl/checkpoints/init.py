"""Deprecated name of `blipctl.checkpoints.warm_start`, kept while `engine/loop.py` imports it."""

from blipctl.checkpoints.warm_start import warm_start as init_from

__all__ = ["init_from"]
