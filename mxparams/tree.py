"""The block hierarchy with parameter counts: ``tree``."""
from __future__ import annotations

from mxnet import gluon

from . import _compat
from ._table import Column, Table, Tabular, fmt_int, fmt_shape
from .params import _check_block, collect, elements


class Tree(Tabular):
    """Blocks as an indented tree, each with the elements of its subtree.

    A Parameter shared by several paths counts once per subtree.  Counts
    are ``?`` while any shape below is unknown.
    """

    def __init__(self, block: gluon.Block, depth: int | None = None,
                 params: bool = False):
        _check_block(block, "tree")
        if depth is not None and (not isinstance(depth, int) or depth < 0):
            raise ValueError(f"depth must be a non-negative int, got {depth!r}")
        collected = collect(block)
        shapes = collected.shapes()
        first_path: dict[int, str] = {}
        # Unique parameters below each block path ('' is the root).
        below: dict[str, dict[int, int | None]] = {}
        for path, param in collected.items():
            shape = shapes[path]
            size = elements(shape)
            first_path.setdefault(id(param), path)
            parts = path.split(".")
            for cut in range(len(parts)):
                below.setdefault(".".join(parts[:cut]), {})[id(param)] = size

        def count(path: str) -> int | None:
            sizes = below.get(path, {}).values()
            return None if None in sizes else sum(sizes)

        self.rows: list[tuple[str, int | None]] = []

        def walk(path: str, node: gluon.Block, indent: str, level: int):
            if depth is not None and level >= depth:
                return
            items = []
            if params:
                for attr, param in _compat.own_params(node).items():
                    items.append((attr, param, None))
            for name, child in _compat.children(node):
                items.append((name, None, child))
            for i, (name, param, child) in enumerate(items):
                last = i == len(items) - 1
                branch = indent + ("└── " if last else "├── ")
                full = f"{path}.{name}" if path else name
                if child is not None:
                    self.rows.append((f"{branch}{name}: {type(child).__name__}",
                                      count(full)))
                    walk(full, child, indent + ("    " if last else "│   "),
                         level + 1)
                else:
                    shape = shapes[full]
                    label = f"{branch}{name} {fmt_shape(shape)}"
                    if first_path[id(param)] != full:
                        label += f" tied to {first_path[id(param)]}"
                    self.rows.append((label, elements(shape)))

        self.rows.append((type(block).__name__, count("")))
        walk("", block, "", 0)
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
