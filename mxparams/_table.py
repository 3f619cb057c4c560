"""One renderer for every table mxparams prints.

A table is plain data: column headings with an alignment, rows of cell
strings, footer lines (label, value) and a note for when there are no
rows.  ``to_text`` sizes each column to its widest cell, never to the
terminal, so printed output is the same everywhere (nbval compares it
byte for byte); ``to_html`` renders the same cells for Jupyter.  Every
result object of mxparams is :class:`Tabular`: data, plus a ``table()``
that this module renders.

Cells hold text from networks and from files (keys and metadata of a
checkpoint anyone may have written), so the renderer shows every
character a terminal would act on as an escape (:func:`printable`).
"""
from __future__ import annotations

import dataclasses
import functools
import html
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        # os.fsdecode's surrogateescape: a byte of a file name that is not
        # UTF-8; show the byte itself.
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1]


def printable(text: str) -> str:
    r"""``text`` with every character a terminal acts on shown as an escape.

    Text from a file (a checkpoint's keys and metadata, a file name) can
    hold escape sequences that clear the screen or retitle the window,
    carriage returns and bidi overrides that hide or reorder what follows,
    or bytes that are not UTF-8.  Every character ``str.isprintable``
    rejects is written the way ``repr`` writes it: control characters
    (tab and newline included: a table cell is one line), DEL, C1
    controls, bidi and other format characters, line and paragraph
    separators; a byte that ``os.fsdecode`` could not decode (a lone
    surrogate U+DC80..U+DCFF) as that byte.  Letters of every script and
    the space pass unchanged, and printable text is returned as it is.

    >>> printable("0.weight")
    '0.weight'
    >>> print(printable("\x1b]0;title\x07a\tb\r\nc\u202ed"))
    \x1b]0;title\x07a\tb\r\nc\u202ed
    >>> import os
    >>> print(printable(os.fsdecode(b"caf\xe9.params")), printable("Tham số"))
    caf\xe9.params Tham số
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


# repr's escape of a lone surrogate from surrogateescape: an odd run of
# backslashes before 'udc80'..'udcff' (an even run is the text's own).
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


def quoted(text: str) -> str:
    r"""``repr(text)`` for a message, with the undecodable bytes of a file
    name shown as bytes, as :func:`printable` shows them.

    >>> import os
    >>> print(quoted(os.fsdecode(b"caf\xe9.params")), quoted("a\x1bb\\udcff"))
    'caf\xe9.params' 'a\x1bb\\udcff'
    """
    text = repr(text)
    if "\\udc" not in text:
        return text
    return _SURROGATE_ESCAPE.sub(r"\1\\x\2", text)


def _all_printable(texts) -> bool:
    try:
        # One join and one scan: the cheapest check of 10^4..10^5 cells.
        return "".join(texts).isprintable()
    except TypeError:  # a cell that is not a str: escaped through str()
        return False


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
        cells: list[Sequence[str]] = [[c.title for c in self.columns]] if self.header else []
        cells += self.rows
        return [max(map(len, column), default=0) for column in
                zip(*cells, strict=True)] if cells else [0] * len(self.columns)

    def escaped(self) -> Table:
        """This table with :func:`printable` text in every cell, title,
        footer and note; the table itself when nothing needs escaping
        (one pass of ``str.isprintable``: summaries have 10^4 rows)."""
        texts = itertools.chain(
            (c.title for c in self.columns), itertools.chain.from_iterable(self.rows),
            itertools.chain.from_iterable(self.footer), (self.note,))
        if _all_printable(texts):
            return self
        esc = lambda text: printable(str(text))  # noqa: E731
        return dataclasses.replace(
            self, columns=[Column(esc(c.title), c.right) for c in self.columns],
            rows=[[esc(t) for t in r] for r in self.rows],
            footer=[(esc(label), esc(value)) for label, value in self.footer],
            note=esc(self.note), known_widths=None)  # escapes are wider

    def to_text(self) -> str:
        """Aligned text, one line per row, every cell :func:`printable`."""
        return self.escaped()._text()

    def _text(self) -> str:
        if not self.rows and (self.note or not self.header):
            return "\n".join(self._bare())
        widths = self.widths()
        # One %-format for every row: per-cell ljust/rjust (or str.format)
        # is what makes a table of 10,000 rows slow.
        fmt = "  ".join(f"%{'' if c.right else '-'}{w}s"
                        for c, w in zip(self.columns, widths, strict=True))
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

    def to_html(self) -> str:
        """An HTML table; cells are :func:`printable` (a browser, too,
        obeys bidi overrides) and then HTML-escaped."""
        return self.escaped()._html()

    def _html(self) -> str:
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
                                    for c, t in zip(self.columns, r, strict=True)) + "</tr>"
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
