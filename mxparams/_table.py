"""One renderer for every table mxparams prints.

A table is plain data: column headings with an alignment, rows of cell
strings, footer lines (label, value) and a note for when there are no
rows.  ``to_text`` sizes each column to its widest cell, never to the
terminal, so printed output is the same everywhere (nbval compares it
byte for byte); ``to_html`` renders the same cells for Jupyter.  Every
result object of mxparams is :class:`Tabular`: data, plus a ``table()``
that this module renders.
"""
from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from typing import Sequence

from . import _gc


@dataclass(frozen=True)
class Column:
    title: str
    right: bool = False  # numbers read best right-aligned


@dataclass(frozen=True)
class Table:
    columns: Sequence[Column]
    rows: Sequence[Sequence[str]]
    footer: Sequence[tuple[str, str]] = ()
    header: bool = True
    #: Column widths, when the caller knows them already (else computed).
    known_widths: Sequence[int] | None = None
    #: What to show instead of an empty table ("All copies equal ...").
    note: str = ""

    def widths(self) -> list[int]:
        if self.known_widths is not None:
            return list(self.known_widths)
        cells = [[c.title for c in self.columns]] if self.header else []
        cells += self.rows
        return [max(map(len, column), default=0) for column in
                zip(*cells)] if cells else [0] * len(self.columns)

    @_gc.paused
    def to_text(self) -> str:
        if not self.rows and (self.note or not self.header):
            return "\n".join(self._bare())
        widths = self.widths()
        # One %-format for every row: per-cell ljust/rjust (or str.format)
        # is what makes a table of 10,000 rows slow.
        fmt = "  ".join(f"%{'' if c.right else '-'}{w}s"
                        for c, w in zip(self.columns, widths))
        out = []
        if self.header:
            out.append((fmt % tuple(c.title for c in self.columns)).rstrip())
            out.append("  ".join("-" * w for w in widths))
        out += [(fmt % tuple(r)).rstrip() for r in self.rows]
        if self.footer:
            out.append("=" * (sum(widths) + 2 * (len(widths) - 1)))
            label_width = max(len(label) for label, _ in self.footer)
            out.extend(f"{label.ljust(label_width)}  {value}".rstrip()
                       for label, value in self.footer)
        return "\n".join(out)

    def _bare(self) -> list[str]:
        """A table without rows: its note, or its footer lines alone."""
        if self.note:
            return [self.note]
        width = max((len(label) for label, _ in self.footer), default=0)
        return [f"{label.ljust(width)}  {value}".rstrip()
                for label, value in self.footer]

    @_gc.paused
    def to_html(self) -> str:
        esc = html.escape
        if not self.rows and self.note:
            return f"<p>{esc(self.note)}</p>"

        def cell(tag: str, col: Column, text: str) -> str:
            align = "right" if col.right else "left"
            return (f'<{tag} style="text-align:{align};white-space:pre">'
                    f"{esc(text)}</{tag}>")

        out = ['<table class="mxparams">']
        if self.header:
            out.append("<thead><tr>"
                       + "".join(cell("th", c, c.title) for c in self.columns)
                       + "</tr></thead>")
        out.append("<tbody>")
        out.extend("<tr>" + "".join(cell("td", c, t)
                                    for c, t in zip(self.columns, r)) + "</tr>"
                   for r in self.rows)
        out.append("</tbody>")
        if self.footer:
            span = len(self.columns)
            out.append("<tfoot>")
            out.extend(f'<tr><td colspan="{span}" style="text-align:left">'
                       f"<b>{esc(label)}</b> {esc(value)}</td></tr>"
                       for label, value in self.footer)
            out.append("</tfoot>")
        out.append("</table>")
        return "\n".join(out)


@functools.lru_cache(maxsize=4096)  # sizes repeat through a network
def fmt_int(n: int | None) -> str:
    """12345 -> '12,345'; None (unknown) -> '?'."""
    return "?" if n is None else f"{n:,}"


@functools.lru_cache(maxsize=4096)  # networks repeat a few shapes many times
def fmt_shape(shape: tuple | None) -> str:
    """(256, None) -> '(256, ?)'; an unknown rank -> '?'."""
    if shape is None:
        return "?"
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + dims[0] + ",)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"


def fmt_bytes(n: int) -> str:
    """Exact bytes plus a binary-prefixed size: '46,796,448 bytes (44.63 MiB)'."""
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    human = f"{n} B" if unit == "B" else f"{size:.2f} {unit}"
    return f"{n:,} bytes" if unit == "B" else f"{n:,} bytes ({human})"


def fmt_float(x: float | None, digits: int = 4) -> str:
    """A number in ``digits`` significant digits, the same text everywhere.

    nan/inf print as 'nan', 'inf', '-inf'; -0.0 prints as '0' (a sign
    that depends on summation order is noise); None (not computed) as '?'.

    >>> [fmt_float(v) for v in (0.123456, -0.0, 1e-7, 12345678.0, None)]
    ['0.1235', '0', '1e-07', '1.235e+07', '?']
    >>> [fmt_float(float(v)) for v in ("nan", "inf", "-inf")]
    ['nan', 'inf', '-inf']
    >>> fmt_float(0.123456789, digits=6)
    '0.123457'
    """
    if x is None:
        return "?"
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return "0" if x == 0 else f"{x:.{digits}g}"


def fmt_devices(devices) -> str:
    """[cpu(0), cpu(1)] -> 'cpu(0), cpu(1)'; no devices -> '-'."""
    return ", ".join(map(str, devices)) if devices else "-"


class Tabular:
    """Mixin for result objects drawn as one table: ``table()`` feeds both
    ``str()`` (aligned text) and ``_repr_html_()`` (Jupyter).

    Reports of checks (``check_finite``, ``check_replicas``, ``load``) are
    falsy when there is nothing to report.
    """

    def table(self) -> Table:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.table().to_text()

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self.table().to_html()
