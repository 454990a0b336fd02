"""Benchmarks: `python -m bench` and `python -m bench.production` (or `make bench`)."""

from __future__ import annotations


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell: the first left-aligned, numbers right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        first, *rest = row
        cells = [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        return "  ".join([first.ljust(widths[0]), *cells])

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])
