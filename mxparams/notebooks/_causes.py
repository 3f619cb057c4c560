"""Why a cell's output drifts: the text nbval compares, and its causes.

``comparable`` turns a cell's outputs into the values nbval compares (the
same streams merged, the same keys skipped, the same sanitizing), one
line each; the rest finds the first difference and names its cause.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

#: Keys nbval never compares (``IPyNbFile.skip_compare`` without nbdime).
SKIPPED = frozenset(["metadata", "traceback", "prompt_number", "output_type", "name",
                     "execution_count", "application/vnd.jupyter.widget-view+json",
                     "image/png", "image/jpeg"])

CAUSES = ("float-digits", "auto-name", "version-api", "nondeterministic", "other")

#: One line of advice per cause.
SUGGESTIONS = {
    "float-digits": "only digits differ: print exact things, or round to the "
                    "stable digits (f'{x:.Ng}', np.round) before printing",
    "auto-name": "MXNet 1.x global names (dense3_weight) drift with what ran "
                 "before: print structural paths (mp.collect(net)) instead",
    "version-api": "the MXNet versions differ here: use an API that behaves the "
                   "same on each (mxparams), or mark the cell "
                   "# NBVAL_IGNORE_OUTPUT / raises-exception if the difference is "
                   "the lesson",
    "nondeterministic": "two runs of one configuration differ: seed every random "
                        "source (mx.random.seed, np.random.seed, random.seed) and "
                        "print no times, ids or addresses, or mark the cell "
                        "# NBVAL_IGNORE_OUTPUT",
    "other": "read the first difference",
}

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])"
                     r"|\b(?:nan|inf)\b")
#: A 1.x global name: '<class><counter>_' prefixes, then the attribute.
_GLOBAL_NAME = re.compile(r"\b(?:[a-z]+\d+_)+[A-Za-z_]\w*")
_PREFIXES = re.compile(r"\b(?:[a-z]+\d+_)+(?=[A-Za-z_(\s]|$)")
#: A file-system path of the machine that ran the cell: POSIX with at least
#: two parts ('/home/u/env/lib/...'), or Windows ('C:\\Users\\...').
_PATH = re.compile(r"(?:(?<![\w/])(?:/[\w.+@~-]+){2,}/?|\b[A-Za-z]:\\+(?:[\w.+~-]+\\+)*[\w.+~-]*)")


def comparable(outputs: Iterable[dict[str, Any]],
               sanitize: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The lines nbval compares, in a stable order: per output key (a
    stream's name, a MIME type, ``ename``, ``evalue``), its values, after
    nbval's own merging of streams and the sanitize patterns."""
    import nbformat
    from nbval.plugin import coalesce_streams, transform_streams_for_comparison

    nodes = coalesce_streams([nbformat.from_dict(dict(o)) for o in outputs])
    by_key: dict[str, list[str]] = {}
    for out in transform_streams_for_comparison(nodes):
        for key, value in out.items():
            if key in SKIPPED:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIPPED:
                        by_key.setdefault(mime, []).append(_text(data))
            else:
                by_key.setdefault(key, []).append(_text(value))
    lines = []
    for key in sorted(by_key):
        for value in by_key[key]:
            for pattern, replace in sanitize:
                value = re.sub(pattern, replace, value)
            lines += [f"{key}: {line}" for line in value.splitlines() or [""]]
    return lines


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def first_difference(reference: Sequence[str], found: Sequence[str]) -> str:
    """The first line that differs, as 'stored -> got'."""
    for i in range(max(len(reference), len(found))):
        a = reference[i] if i < len(reference) else "(no line)"
        b = found[i] if i < len(found) else "(no line)"
        if a != b:
            return f"{_short(a)} -> {_short(b)}"
    return ""


def _short(line: str, limit: int = 90) -> str:
    return line if len(line) <= limit else line[:limit - 3] + "..."


def masked(lines: Sequence[str]) -> list[str]:
    """The lines with every number replaced by '#' and no whitespace (NumPy
    pads printed columns to the widest number)."""
    return [re.sub(r"\s+", "", _NUMBER.sub("#", line)) for line in lines]


def unnamed(lines: Sequence[str]) -> list[str]:
    """The lines with the '<class><counter>_' prefixes of 1.x global names
    removed: 'dense4_weight' and 2.x's 'weight' both read 'weight'."""
    return [_PREFIXES.sub("", line) for line in lines]


def flat(lines: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The masked text with its line breaks gone, and the output keys it
    came from: two layouts of one value (NumPy or IPython wrapping a
    line elsewhere) read the same."""
    keys, text = [], []
    for line in masked(lines):
        key, _, value = line.partition(":")
        keys.append(key)
        text.append(value)
    return tuple(dict.fromkeys(keys)), "".join(text)


def only_numbers_differ(found: Sequence[str], reference: Sequence[str]) -> bool:
    """Whether ``found`` is ``reference`` with other numbers (and so,
    perhaps, lines wrapped elsewhere)."""
    return masked(found) == masked(reference) or (
        flat(found) == flat(reference) and numbers(found) != numbers(reference))


def textual_cause(found: Sequence[str], reference: Sequence[str]) -> str | None:
    """The cause the two texts alone tell: 'auto-name' (only 1.x global
    names' counters differ), 'float-digits' (only numbers), 'other' (a
    machine's path, or a line wrapped elsewhere: no MXNet version explains
    it and no rounding fixes it); None when they tell none."""
    if unnamed(found) == unnamed(reference) and any(map(names_global,
                                                        [*reference, *found])):
        return "auto-name"
    if only_numbers_differ(found, reference):
        return "float-digits"
    if flat(pathless(found)) == flat(pathless(reference)):
        return "other"
    return None


def pathless(lines: Sequence[str]) -> list[str]:
    """The lines with every file-system path replaced by '<path>': where a
    package is installed, a user's home, a temporary folder."""
    return [_PATH.sub("<path>", line) for line in lines]


def numbers(lines: Sequence[str]) -> list[str]:
    return [m.group(0) for line in lines for m in _NUMBER.finditer(line)]


def names_global(line: str) -> bool:
    """Whether ``line`` holds a 1.x global name ('dense3_weight')."""
    return bool(_GLOBAL_NAME.search(line))


def stable_digits(texts: Sequence[Sequence[str]]) -> int | None:
    """How many significant digits agree in every one of ``texts`` (lines
    that differ only in numbers), at the number that agrees least; None
    when no number differs."""
    columns = list(zip(*(numbers(t) for t in texts), strict=False))
    worst: int | None = None
    for column in columns:
        if len(set(column)) == 1:
            continue
        try:
            values = [float(v) for v in column]
        except ValueError:
            continue
        digits = _agreeing(values)
        worst = digits if worst is None else min(worst, digits)
    return worst


def _agreeing(values: Sequence[float]) -> int:
    """The most significant digits (0 to 17) to which ``values`` all round
    the same."""
    if any(math.isnan(v) or math.isinf(v) for v in values):
        return 0
    for digits in range(17, 0, -1):
        if len({f"{v:.{digits}g}" for v in values}) == 1:
            return digits
    return 0
