"""Workflows: one plain `run(cfg)` function each, taking a config dataclass."""
