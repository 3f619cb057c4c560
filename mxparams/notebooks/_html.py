"""The HTML report of ``notebooks check --html``: one self-contained page.

The summary is the check's own table (the project's renderer); below it,
per notebook, each drifting cell with its stored output beside what each
configuration printed, the characters that differ marked, and the cause
with its suggestion.  No script, no external asset: it opens from a CI
artifact or an e-mail attachment as it is.
"""
from __future__ import annotations

import difflib
import html
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .._table import printable
from ._causes import SUGGESTIONS

if TYPE_CHECKING:
    from .check import CellResult, NotebookCheck

#: Outputs of more tokens than this are compared line by line: the diff
#: is quadratic.
_DIFF_LIMIT = 20_000
#: Words (digits and '_' included), runs of white space, single others.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1em; margin: 1.2em 0 .3em; }
table.mxparams { border-collapse: collapse; font-size: .85em; }
table.mxparams th, table.mxparams td { border: 1px solid #ccc; padding: .2em .5em; }
.cause { font-weight: normal; color: #555; }
.suggestion { margin: .2em 0 .5em; color: #444; }
.outputs { display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-start; }
figure.output { margin: 0; flex: 1 1 22em; min-width: 0; }
figcaption { font-size: .8em; color: #333; margin-bottom: .2em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .4em; margin: 0;
      overflow-x: auto; font-size: .8em; }
figure.stored pre { background: #f2f7ff; }
mark.old { background: #ffd6d6; }
mark.new { background: #c9f2c9; }
"""


def page(report: NotebookCheck) -> str:
    """The report as one HTML page (UTF-8, no external resources)."""
    esc = _esc
    drifting = report.drifting()
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>",
           '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>mxparams notebooks check</title>",
           f"<style>{_STYLE}</style>", "</head>", "<body>",
           "<h1>mxparams notebooks check</h1>",
           f'<p class="verdict">{esc(_verdict(report, len(drifting)))}</p>',
           '<h2 id="summary">Summary</h2>', report.table().to_html()]
    for number, (path, cells) in enumerate(report.notebooks):
        mine = [(cell, results) for p, cell, results in drifting if p == path]
        if not mine:
            continue
        out.append(f'<h2 id="notebook-{number}">{esc(path)}</h2>')
        for cell, results in mine:
            out += _cell(report, path, cell, results,
                         f"notebook-{number}-{cell.replace(' ', '-').lower()}")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def write(report: NotebookCheck, file: str | Path) -> None:
    """Write :func:`page` to ``file`` (UTF-8)."""
    Path(file).write_text(page(report), encoding="utf-8")


def _verdict(report: NotebookCheck, drifting: int) -> str:
    cells = sum(len(c) for _, c in report.notebooks)
    where = f"under {len(report.configurations)} configurations"
    if not drifting:
        return f"All {cells} cells reproduce their stored outputs {where}."
    return f"{drifting} of {cells} cells drift {where}."


def _cell(report: NotebookCheck, path: str, cell: str,
          results: dict[str, CellResult], anchor: str) -> list[str]:
    esc = _esc
    texts = report.outputs.get((path, cell), {})
    stored = "\n".join(texts.get("stored", []))
    bad = {label: r for label, r in results.items() if r.status in ("differs", "error")}
    causes = list(dict.fromkeys(r.cause or "other" for r in bad.values()))
    out = [f'<section class="cell" id="{esc(anchor)}">',
           f'<h3>{esc(cell)} <span class="cause">{esc(", ".join(causes))}</span></h3>']
    for cause in causes:
        digits = {r.stable_digits for r in bad.values()
                  if r.cause == cause and r.stable_digits is not None}
        agree = f" ({min(digits)} significant digits agree everywhere)" if digits else ""
        out.append(f'<p class="suggestion"><b>{esc(cause)}</b>{esc(agree)}: '
                   f"{esc(SUGGESTIONS[cause])}</p>")
    out.append('<div class="outputs">')
    out.append('<figure class="output stored"><figcaption>stored in the notebook'
               f"</figcaption><pre>{esc(stored) or '(no output)'}</pre></figure>")
    # Configurations that printed the same text share one panel.
    panels: dict[str, list[str]] = {}
    for label, result in bad.items():
        text = "\n".join(texts.get(label, [])) if label in texts else \
            result.first_difference or ""
        panels.setdefault(text, []).append(label)
    for text, labels in panels.items():
        status = sorted({bad[x].status for x in labels})
        caption = f"{', '.join(labels)}: {' / '.join(status)}"
        out.append(f'<figure class="output {" ".join(status)}"><figcaption>'
                   f"{esc(caption)}</figcaption><pre>{_marked(stored, text)}</pre>"
                   "</figure>")
    out += ["</div>", "</section>"]
    return out


def _marked(stored: str, found: str) -> str:
    """``found`` as HTML with what differs from ``stored`` marked: changed
    or new text as ``mark.new``, stored text missing here as ``mark.old``.

    Words, numbers and punctuation are matched as tokens (a character
    diff pairs up stray digits of unrelated numbers); where one token
    replaces one token, the characters inside are compared, so
    ``dense4_weight`` -> ``dense0_weight`` marks the ``0``."""
    if not found:
        return "(no output)"
    a, b = _TOKEN.findall(stored), _TOKEN.findall(found)
    if len(a) + len(b) > _DIFF_LIMIT:  # quadratic: whole lines then
        a, b = stored.splitlines(keepends=True), found.splitlines(keepends=True)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b,
                                                      autojunk=False).get_opcodes():
        if op == "equal":
            out.append(_esc("".join(b[j1:j2])))
        elif op == "delete":
            out.append(_old("".join(a[i1:i2])))
        elif op == "replace" and i2 - i1 == 1 and j2 - j1 == 1 and len(a[i1]) < 200:
            out.append(_within(a[i1], b[j1]))
        else:
            out.append(_new("".join(b[j1:j2])))
    return "".join(out)


def _within(old: str, new: str) -> str:
    """One token replaced by another: what lies between their common start
    and common end marked (``65536`` -> ``66413`` marks ``6413``: where
    the digits part)."""
    start = len(os.path.commonprefix([old, new]))
    end = len(os.path.commonprefix([old[start:][::-1], new[start:][::-1]]))
    middle_old, middle_new = old[start:len(old) - end], new[start:len(new) - end]
    middle = _new(middle_new) if middle_new else _old(middle_old)
    return _esc(new[:start]) + middle + _esc(new[len(new) - end:])


def _new(text: str) -> str:
    return f'<mark class="new">{_esc(text)}</mark>'


def _old(text: str) -> str:
    return f'<mark class="old" title="stored, missing here">{_esc(text)}</mark>'


def _esc(text: str) -> str:
    # printable() first, line by line: a browser obeys bidi overrides and
    # draws control characters too; then the HTML escape.
    return "\n".join(html.escape(printable(line)) for line in text.split("\n"))
