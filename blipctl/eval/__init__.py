"""Evaluation: official metrics and the loops that feed them."""
