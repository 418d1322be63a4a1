"""Data: readers, transforms and the synthetic corpus."""
