"""The block hierarchy with parameter counts: ``tree``."""
from __future__ import annotations

from typing import NamedTuple

from mxnet import gluon

from . import _compat
from ._table import Column, Table, Tabular, fmt_int, fmt_shape
from .params import check_depth, check_flag, elements, walk


class TreeRow(NamedTuple):
    """One line of the tree: a block, or (with ``params=True``) a parameter."""
    path: str                 # structural path of the block or parameter
    name: str                 # its name in the parent block ('' for the root)
    kind: str                 # 'block' or 'param'
    type: str                 # class name of a block; '' for a parameter
    shape: tuple | None       # a parameter's display shape; None for a block
    tied_to: str              # first path of a tied parameter, else ''
    elements: int | None      # below a block / of a parameter; None if unknown
    level: int                # 0 for the root
    last: bool                # the last line under its parent


class Tree(Tabular):
    """Blocks as an indented tree, each with the elements of its subtree.

    ``rows`` are :class:`TreeRow` data in drawing order; the branches
    (``├──``, ``└──``) are drawn when the table is rendered.  A Parameter
    shared by several paths counts once per subtree.  Counts are ``?``
    while any shape below is unknown.
    """

    def __init__(self, block: gluon.Block, *, depth: int | None = None,
                 params: bool = False):
        found = walk(block, "tree")
        check_depth(depth, "tree")
        check_flag(params, "params", "tree")
        nodes = found.nodes
        # Unique parameters below each block path ('' is the root), and
        # each block's own parameters as the walk found them.
        below: dict[str, dict[str, int | None]] = {path: {} for path in nodes}
        owned: dict[str, list[_compat.Site]] = {}
        for site in found.sites().values():
            size = elements(site.shape)
            owned.setdefault(site.owner_path, []).append(site)
            at: str | None = site.owner_path
            # Ends at the root: block paths are unique and each is longer
            # than its parent's, or the walk raised StructureError.
            while at is not None:
                below[at][site.first] = size
                at = nodes[at].parent
        kids: dict[str, list[str]] = {}
        for path, node in nodes.items():
            if node.parent is not None:
                kids.setdefault(node.parent, []).append(path)

        def count(path: str) -> int | None:
            total = 0
            for size in below[path].values():
                if size is None:
                    return None
                total += size
            return total

        def under(path: str, level: int) -> list[tuple]:
            """What to draw under block ``path``: its own parameters (with
            ``params``), then its children; (site, child, level, last)."""
            if depth is not None and level >= depth:
                return []
            shown: list[tuple[_compat.Site | None, str | None]] = (
                [(site, None) for site in owned.get(path, ())] if params else [])
            shown += [(None, child) for child in kids.get(path, ())]
            return [(site, child, level + 1, i == len(shown) - 1)
                    for i, (site, child) in enumerate(shown)]

        self.rows: list[TreeRow] = [TreeRow("", "", "block", type(block).__name__,
                                            None, "", count(""), 0, True)]
        # An explicit stack, not recursion: the depth of a network is not
        # bounded by Python's recursion limit.
        stack = under("", 0)[::-1]
        while stack:
            site, child, level, last = stack.pop()
            if child is not None:
                node = nodes[child]
                self.rows.append(TreeRow(child, node.name, "block",
                                         type(node.block).__name__, None, "",
                                         count(child), level, last))
                stack.extend(under(child, level)[::-1])
                continue
            prefix = site.owner_path + "." if site.owner_path else ""
            name = (site.path[len(prefix):] if site.path.startswith(prefix)
                    else site.path)
            self.rows.append(TreeRow(site.path, name, "param", "", site.shape,
                                     site.first if site.first != site.path else "",
                                     elements(site.shape), level, last))
        self.total = self.rows[0].elements

    def labels(self) -> list[str]:
        """Each row's text in the Block column, branches drawn."""
        out: list[str] = []
        open_levels: list[bool] = []  # open_levels[i]: level i+1 has more below
        for r in self.rows:
            if r.kind == "block":
                text = f"{r.name}: {r.type}" if r.level else r.type
            else:
                text = f"{r.name} {fmt_shape(r.shape)}"
                if r.tied_to:
                    text += f" tied to {r.tied_to}"
            if r.level:
                del open_levels[r.level - 1:]
                indent = "".join("│   " if more else "    " for more in open_levels)
                text = indent + ("└── " if r.last else "├── ") + text
                open_levels.append(not r.last)
            out.append(text)
        return out

    def table(self) -> Table:
        return Table([Column("Block"), Column("Elements", right=True)],
                     [(label, fmt_int(r.elements))
                      for label, r in zip(self.labels(), self.rows, strict=True)])


def tree(block: gluon.Block, *, depth: int | None = None,
         params: bool = False) -> Tree:
    """The block hierarchy, like ``print(net)``, with parameter counts.

    Each line is a child's name and class with the number of parameter
    elements below it; the text is identical on MXNet 1.x and 2.x.
    ``depth`` limits how many levels are shown (counts still include
    everything); ``params=True`` also lists each block's own parameters.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(8, in_units=4), nn.HybridSequential())
    >>> net[1].add(nn.Dense(2, in_units=8), nn.Dense(1))
    >>> print(tree(net))
    Block                    Elements
    -----------------------  --------
    HybridSequential                ?
    ├── 0: Dense                   40
    └── 1: HybridSequential         ?
        ├── 0: Dense               18
        └── 1: Dense                ?
    >>> print(tree(net, depth=1, params=False).total)
    None
    """
    return Tree(block, depth=depth, params=params)
