"""The block hierarchy with parameter counts: ``tree``."""
from __future__ import annotations

from mxnet import gluon

from . import _compat
from ._table import Column, Table, Tabular, fmt_int, fmt_shape
from .params import check_depth, elements, walk


class Tree(Tabular):
    """Blocks as an indented tree, each with the elements of its subtree.

    A Parameter shared by several paths counts once per subtree.  Counts
    are ``?`` while any shape below is unknown.
    """

    def __init__(self, block: gluon.Block, depth: int | None = None,
                 params: bool = False):
        found = walk(block, "tree")
        check_depth(depth, "tree")
        nodes = found.nodes
        # Unique parameters below each block path ('' is the root), and
        # each block's own parameters as the walk found them.
        below: dict[str, dict[str, int | None]] = {path: {} for path in nodes}
        owned: dict[str, list[_compat.Site]] = {}
        for site in found.sites().values():
            size = elements(site.shape)
            owned.setdefault(site.owner_path, []).append(site)
            path = site.owner_path
            while path is not None:
                below[path][site.first] = size
                path = nodes[path].parent
        kids: dict[str, list[str]] = {}
        for path, node in nodes.items():
            if node.parent is not None:
                kids.setdefault(node.parent, []).append(path)

        def count(path: str) -> int | None:
            sizes = below[path].values()
            return None if None in sizes else sum(sizes)

        def items(path: str, indent: str, level: int) -> list[tuple]:
            """What to draw under block ``path``: its own parameters
            (with ``params``), then its children, each with its branch."""
            if depth is not None and level >= depth:
                return []
            shown = ([(site, None) for site in owned.get(path, ())] if params
                     else [])
            shown += [(None, child) for child in kids.get(path, ())]
            out = []
            for i, (site, child) in enumerate(shown):
                last = i == len(shown) - 1
                out.append((site, child, indent + ("└── " if last else "├── "),
                            indent + ("    " if last else "│   "), level + 1,
                            path + "." if path else ""))
            return out

        self.rows: list[tuple[str, int | None]] = [(type(block).__name__,
                                                     count(""))]
        # An explicit stack, not recursion: the depth of a network is not
        # bounded by Python's recursion limit.
        stack = items("", "", 0)[::-1]
        while stack:
            site, child, branch, indent, level, prefix = stack.pop()
            if child is not None:
                node = nodes[child]
                self.rows.append((f"{branch}{node.name}: "
                                  f"{type(node.block).__name__}", count(child)))
                stack.extend(items(child, indent, level)[::-1])
                continue
            name = (site.path[len(prefix):] if site.path.startswith(prefix)
                    else site.path)
            label = f"{branch}{name} {fmt_shape(site.shape)}"
            if site.first != site.path:
                label += f" tied to {site.first}"
            self.rows.append((label, elements(site.shape)))
        self.total = self.rows[0][1]

    def table(self) -> Table:
        return Table([Column("Block"), Column("Elements", right=True)],
                     [(label, fmt_int(n)) for label, n in self.rows])


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
