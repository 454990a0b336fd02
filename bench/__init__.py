"""Benchmarks: `python -m bench` (`make bench`); see bench/__main__.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def log(message: str) -> None:
    """A part's progress, on stderr: stdout is its figures."""
    print(message, file=sys.stderr, flush=True)


def emit(figures: dict, path: str | None) -> int:
    """A part's figures as JSON, to `path` or stdout (what `python -m bench` reads)."""
    text = json.dumps(figures, indent=2)
    if path:
        Path(path).write_text(text)
    else:
        print(text)
    return 0


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 1) -> str:
    """Columns padded to their widest cell: the first `left` left-aligned, the rest
    (numbers) right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])
