"""mkdocs hooks of the documentation site (mkdocs.yml ``hooks:``).

The pages of docs/ and the docstrings write their examples as bare doctest
blocks: lines that start with ``>>>``, with the expected output below them,
up to a blank line, exactly what pytest's doctests read
(``--doctest-glob=*.md``, ``--doctest-modules``).  Markdown would read
``>>>`` as three nested block quotes and ``[a][b]`` in an output as a
reference link; a fence around them in the files would end up in the
expected output.  So the site, and only the site, turns each such block
into a ``pycon`` code block: the files stay as pytest and the repository
host show them.

The API reference (docs/api.md) must show every name of
``mxparams.__all__``: a name that griffe cannot resolve to the object
(a submodule of the same name hides a function imported over it, see
griffe's "avoid member-submodule name shadowing") is a warning, so an
error of ``mkdocs build --strict``.
"""
from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor
from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.plugins.mxparams")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
PROMPT = re.compile(r"^(\s*)>>>( |$)")


def fence_doctests(lines: list[str]) -> list[str]:
    """Wrap every doctest block (outside fenced code) in a ``pycon`` fence."""
    out: list[str] = []
    fence = None  # the marker of the fenced block we are in
    i = 0
    while i < len(lines):
        line = lines[i]
        opened = FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            out.append(line)
            i += 1
            continue
        if opened:
            fence = opened.group(1)
            out.append(line)
            i += 1
            continue
        prompt = PROMPT.match(line)
        if prompt and (not out or not out[-1].strip()):
            indent = prompt.group(1)
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent)
                             else lines[i])
                i += 1
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return out


class _Doctests(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return fence_doctests(lines)


class DoctestExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        # After whitespace normalization (30), before the fences are read (25).
        md.preprocessors.register(_Doctests(md), "mxparams_doctests", 29)


@event_priority(100)  # before mkdocstrings hands the extensions to its handler
def on_config(config):
    config.markdown_extensions.append(DoctestExtension())
    return config


def public_names() -> list[str]:
    """``mxparams.__all__``, read from the source (MXNet is not imported)."""
    tree = ast.parse((ROOT / "mxparams" / "__init__.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "__all__"):
            return list(ast.literal_eval(node.value))
    raise ValueError("mxparams/__init__.py has no literal __all__")


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri == "api.md":
        missing = [n for n in public_names() if f'id="mxparams.{n}"' not in output]
        if missing:
            log.warning("api.md: the API reference does not show mxparams."
                        + ", mxparams.".join(missing) + " (in __all__); griffe "
                        "sees a submodule of the same name instead")
    return output
