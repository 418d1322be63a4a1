"""Printing per-item results: values on stdout, one stderr line per failed item."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable


def emit_results(run: Callable[[Callable[[int], None]], Iterable], total: int, errors: list[str],
                 fmt: str, key: str, single: bool = False, extra: Callable = lambda r: {}) -> int:
    """Streams results as they come; returns the number of failed items (input errors included).

    text: the value alone for a single input, else `IMAGE<TAB>VALUE` lines;
    jsonl: {"image": ..., <key>: ...} records.
    """
    from blipctl.progress import progress

    for e in errors:
        print(f"blipctl: {e}", file=sys.stderr)
    failed = len(errors)
    with progress(total, key) as advance:
        for r in run(advance):
            if r.error:
                failed += 1
                print(f"blipctl: {r.error}", file=sys.stderr)
            elif fmt == "jsonl":
                print(json.dumps({"image": r.image, **extra(r), key: r.text}), flush=True)
            else:
                print(r.text if single else f"{r.image}\t{r.text}", flush=True)
    return failed
