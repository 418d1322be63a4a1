"""Webdataset shard specs: `a.tar`, or brace patterns like `web-{000000..000009}.tar`."""

from __future__ import annotations

from pathlib import Path

from blipctl.errors import BlipctlError


def is_shard_spec(spec: str) -> bool:
    return spec.endswith(".tar") or ("{" in spec and ".." in spec)


def expand_shards(spec: str, root: str | Path) -> list[Path]:
    """`a-{000..003}.tar` -> the four paths under root; each must exist."""
    from braceexpand import braceexpand

    paths = [Path(root) / p for p in braceexpand(spec)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise BlipctlError(f"{missing[0]}: no such shard" + (f" (and {len(missing) - 1} more)"
                                                               if len(missing) > 1 else ""))
    return paths
