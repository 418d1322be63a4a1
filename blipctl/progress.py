"""A rich progress bar on stderr, so stdout stays clean for results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress(total: int, description: str, done: int = 0) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; draws a bar on stderr while the block runs (`done` of `total`
    already done: a resumed run). Lines printed meanwhile appear above the bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with bar:
        task = bar.add_task(description, total=total, completed=done)
        yield lambda n=1: bar.advance(task, n)
