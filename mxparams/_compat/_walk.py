"""The one structural walk: every block and parameter path under a root.

Reads Gluon's private ``_children``, ``_reg_params`` and, for blocks that
replace Gluon's traversal, calls their ``_collect_params_with_prefix``;
the same code on 1.x and 2.x (2.x keeps children as weak references,
checked per child).
"""
from __future__ import annotations

import inspect
import weakref
from collections.abc import Mapping
from typing import NamedTuple

from mxnet import gluon

from ..errors import StructureError
from ._params import display_shape


def _lost_child(block: gluon.Block, path: str, name: str) -> RuntimeError:
    where = f"{path}.{name}" if path else name
    return RuntimeError(
        f"the child block at path {where!r} ({type(block).__name__} child "
        f"{name!r}) was garbage collected: Gluon 2 only keeps a weak "
        "reference to children added with register_child; keep the child as "
        "an attribute or in a Sequential")


def _where(path: str, block: gluon.Block) -> str:
    """A block for a message: its path and class ('' is the root)."""
    if not path:
        return f"the root block ({type(block).__name__})"
    return f"block {path!r} ({type(block).__name__})"


# The errors below are built only when the walk finds a structure without
# unique paths.

def _empty_name(block: gluon.Block, path: str, name: object,
                child: gluon.Block) -> ValueError:
    if name != "":
        return StructureError(
            f"{_where(path, block)} has a child ({type(child).__name__}) "
            f"registered under the name {name!r}: structural paths join "
            "child names with '.', so child names must be non-empty "
            "strings; register the child under a name such as 'head'")
    return StructureError(
        f"{_where(path, block)} has a child ({type(child).__name__}) "
        "registered under the empty name '': structural paths join child "
        "names with '.', so the child would have no path of its own and its "
        "parameters' paths could clash with its parent's; give the child a "
        "non-empty name without '.', such as 'head'")


def _renaming(*entries: tuple) -> str:
    """The fix for two blocks at one path: rename the last of ``entries``
    whose own name holds a '.'."""
    for _, _, parent, name, _, _ in reversed(entries):
        if "." in name:
            where = "the root block" if not parent else f"block {parent!r}"
            return (f"register child {name!r} of {where} under a name "
                    f"without '.', such as {name.replace('.', '_')!r}")
    return "register children under names without '.'"


def _path_taken(first: tuple, second: tuple, reached: dict) -> ValueError:
    """Two different blocks at one path: ``first`` and ``second`` are
    entries of the walk (path, block, parent path, name, level, inside),
    ``reached`` maps the paths walked so far to theirs."""

    def how(entry: tuple) -> str:
        _, block, parent, name, _, _ = entry
        return (f"a {type(block).__name__} registered as child {name!r} "
                f"of {_where(parent, reached[parent][1])}")

    return StructureError(
        f"two different blocks have the structural path {first[0]!r}: "
        f"{how(first)}, and {how(second)}; their parameters would share "
        f"paths and save/load would keep only one of each; "
        f"{_renaming(first, second)}")


def _cycle(entry: tuple, order: list[tuple]) -> ValueError:
    """The error for a block that contains itself, found at ``entry``;
    ``order`` holds the entries walked so far, in pre-order."""
    level = entry[4]
    # In pre-order, a block's ancestor at each level is the last entry
    # reached at that level before it.
    ancestors: dict[int, tuple] = {}
    for earlier in reversed(order):
        if earlier[4] < level:
            ancestors.setdefault(earlier[4], earlier)
            if len(ancestors) == level:
                break
    chain = [ancestors[i] for i in range(level)] + [entry]
    # Name the first block on the chain to come back, and where it does.
    first: dict[int, tuple] = {}
    for again in chain:
        outer = first.setdefault(id(again[1]), again)
        if outer is not again:
            break
    ancestor, block = outer[0], outer[1]
    path, _, parent, name, depth, _ = again
    cycle = path[len(ancestor) + 1:] if ancestor else path
    if parent == ancestor:
        how = f"it is registered as its own child {name!r}"
    else:
        how = (f"it is registered as child {name!r} of "
               f"{_where(parent, chain[depth - 1][1])}, which it contains")
    return StructureError(
        f"{_where(ancestor, block)} contains itself: {how}, so its "
        f"structural paths would never end ({path!r}, {path + '.' + cycle!r}, "
        "...); a block may be used at several paths, but not inside itself: "
        "remove that registration")


def _distinct_paths(order: list[tuple]) -> list[tuple]:
    """``order`` with each block path once, or a StructureError.

    The same block reached again at the same path (registered as 'a.b' and
    as 'b' of 'a') brings the same subtree: it is listed once, where it was
    first reached.  Two different blocks at one path are an error.
    """
    reached: dict[str, tuple] = {}
    distinct = []
    for entry in order:
        first = reached.setdefault(entry[0], entry)
        if first is entry:
            distinct.append(entry)
        elif first[1] is not entry[1]:
            raise _path_taken(first, entry, reached)
    return distinct


def _param_clash(order: list[tuple], own_keys: dict) -> ValueError | None:
    """Two different Parameters given the same path, or None.

    Run only when the walk counted more entries than distinct paths: the
    same Parameter reached twice by one path is no conflict.
    """
    first: dict[str, tuple] = {}
    for path, block, _, _, _, inside in order:
        if inside is not None:
            continue
        prefix = path + "." if path else ""
        if path in own_keys:
            found = [(key, param, f"the key {key!r} listed by")
                     for key, param in own_keys[path][0].items()]
        else:
            found = [(prefix + attr, param, f"parameter {attr!r} of")
                     for attr, param in block._reg_params.items()]
        for key, param, what in found:
            there = first.setdefault(key, (param, f"{what} {_where(path, block)}"))
            if there[0] is not param:
                return StructureError(
                    f"two different parameters have the structural path "
                    f"{key!r}: {there[1]}, and {what} {_where(path, block)}; "
                    "save/load would keep only one of them; register "
                    "children and parameters under names without '.'")
    return None


_DEFAULT_COLLECT = inspect.unwrap(gluon.Block._collect_params_with_prefix)
_OWN_TRAVERSAL: dict[type, bool] = {}


def _own_traversal(cls: type[gluon.Block]) -> bool:
    """Whether ``cls`` replaces Gluon's traversal with keys of its own.

    1.x fused RNN layers return ``_unfused.0.l_cell.i2h_weight`` for their
    own ``l0_i2h_weight`` and NLP-toolkit attention cells ``proj_query.weight``
    for ``query_weight`` (compatibility §3).  2.x wraps every method of its
    numpy-mode classes (``use_np``), so compare what the wrappers wrap.
    """
    own = _OWN_TRAVERSAL.get(cls)
    if own is None:
        own = _OWN_TRAVERSAL[cls] = (inspect.unwrap(cls._collect_params_with_prefix)
                                     is not _DEFAULT_COLLECT)
    return own


class Node(NamedTuple):
    """A block as the walk reached it."""
    block: gluon.Block
    parent: str | None    # path of the block that holds it; None for the root
    name: str             # its name in the parent ('' for the root)
    level: int            # 0 for the root, 1 for its children, ...


class Site(NamedTuple):
    """One structural path and what every mxparams view needs to know of it."""
    path: str                  # exactly Gluon's key (what save_parameters writes)
    param: gluon.Parameter     # Gluon's own object
    owner: gluon.Block         # the block whose parameter it is
    owner_path: str            # that block's path ('' for the root)
    attr: str                  # its name in the owner (``_reg_params`` key)
    first: str                 # first path of the same Parameter object
    shape: tuple | None        # display shape: unknown dims None (see below)


# NamedTuple() calls a Python-level __new__; the walk builds one record per
# block and per parameter, so it builds them as tuple.__new__ does.
_new = tuple.__new__


# The level from which the walk looks for a block that contains itself:
# below the depth of real networks (the model zoo's reach 7 levels), so
# they pay nothing for the check.
_CYCLE_LEVEL = 16


class Walk:
    """Every block and every parameter path under ``root``, in one pass.

    ``params`` maps each structural path to Gluon's own ``Parameter``: the
    keys and order of Gluon's ``_collect_params_with_prefix`` (what
    ``save_parameters`` writes, the same on 1.x and 2.x), including the keys
    of blocks that replace that traversal with their own, which are asked
    for theirs.  ``nodes`` maps every block path ('' is the root) to its
    :class:`Node`, in pre-order; a block registered twice is there twice.
    :meth:`sites` adds, per path, the owning block, the attribute, the
    first path of the same Parameter and the display shape.

    Every path is unique and a child's path is longer than its parent's,
    or the walk raises :class:`~mxparams.errors.StructureError`: for a
    child registered under the empty name, for two different blocks or two
    different Parameters at one path (child names containing '.'), and for
    a block that contains itself.  A block registered twice (tied layers)
    is no conflict: it is there at each of its paths.

    The walk keeps its own stack (Gluon's recursion stops near 1,200
    levels) and copies no dictionaries per level, so its cost is linear in
    blocks plus parameters.
    """

    __slots__ = ("root", "params", "_order", "_own_keys", "_nodes", "_sites")

    def __init__(self, root: gluon.Block):
        self.root = root
        # Every block in pre-order as the stack held it: (path, block,
        # parent path, name, level, inside), where inside is the path of
        # the enclosing block with keys of its own (None if there is none).
        order: list[tuple] = []
        own: dict[str, list[str]] = {}  # block with keys of its own -> subtree
        # A block that contains itself makes the walk descend forever.
        # Looking for it only from level _CYCLE_LEVEL down costs nothing on
        # networks of usual depth and still finds it: the endless descent
        # meets a block again below that level, at most _CYCLE_LEVEL levels
        # of work later than a check from the root would.  line[i] is the
        # id of the last block with children reached at level i (for levels
        # above the current block, its ancestor), depth_of maps an id to the
        # level where it was last reached: one dict lookup per block.
        line: dict[int, int] = {}
        depth_of: dict[int, int] = {}
        seen_at, deep = depth_of.get, _CYCLE_LEVEL
        dotted = False  # a child name holds '.': paths may meet
        stack: list[tuple[str, gluon.Block, str | None, str, int, str | None]] = [
            ("", root, None, "", 0, None)]
        pop, push, record, ref = stack.pop, stack.append, order.append, weakref.ref
        while stack:
            entry = pop()
            record(entry)
            path, block, _, _, level, inside = entry
            if inside is not None:
                own[inside].append(path)
            elif _own_traversal(type(block)):
                own[path] = [path]
                inside = path
            kids = block._children
            if kids:
                if level >= deep:
                    key = id(block)
                    above = seen_at(key)
                    if above is not None and above < level and line[above] == key:
                        raise _cycle(entry, order)
                    depth_of[key] = level
                    line[level] = key
                prefix = path + "." if path else ""
                level += 1
                for name, child in reversed(kids.items()):
                    if type(child) is ref:
                        child = child()
                        if child is None:
                            raise _lost_child(block, path, name)
                    if not name or "." in name:
                        if not name:
                            raise _empty_name(block, path, name, child)
                        dotted = True
                    push((prefix + name, child, path, name, level, inside))
        if dotted:
            # Without '.' in child names (and none empty) each block path
            # splits into names one way only, so paths can only meet here.
            order = _distinct_paths(order)
        # Keys are assembled after every block was reached, so a dead child
        # is reported by name before a block's own traversal trips on it.
        params: dict[str, gluon.Parameter] = {}
        own_keys: dict[str, tuple[dict, list[str]]] = {}
        entries = 0  # more entries than paths: some path was given twice
        for path, block, _, _, _, inside in order:
            if inside is not None:
                continue  # below a block with keys of its own: it gave them
            if path in own:
                keys = block._collect_params_with_prefix(path)
                own_keys[path] = (keys, own[path])
                params.update(keys)
                entries += len(keys)
            else:
                reg = block._reg_params
                if reg:
                    prefix = path + "." if path else ""
                    for key, param in reg.items():
                        params[prefix + key] = param
                    entries += len(reg)
        if entries != len(params):
            clash = _param_clash(order, own_keys)
            if clash is not None:
                raise clash
        self.params = params
        self._order = order
        self._own_keys = own_keys
        self._nodes: dict[str, Node] | None = None
        self._sites: dict[str, Site] | None = None

    @property
    def nodes(self) -> dict[str, Node]:
        """path -> :class:`Node` of every block, in pre-order (built once)."""
        if self._nodes is None:
            self._nodes = {path: _new(Node, (block, parent, name, level))
                           for path, block, parent, name, level, _ in self._order}
        return self._nodes

    def sites(self) -> dict[str, Site]:
        """path -> :class:`Site`, in the order of ``params`` (computed once)."""
        if self._sites is None:
            self._sites = self._build_sites()
        return self._sites

    def _build_sites(self) -> dict[str, Site]:
        sites: dict[str, Site] = {}
        firsts: dict[int, str] = {}  # id of a Parameter -> its first path
        first_of = firsts.setdefault
        own_keys = self._own_keys
        # Loops written out (no generators, no helper calls for a known
        # shape): this runs once per parameter of the network.
        for path, block, _, _, _, inside in self._order:
            if inside is not None:
                continue
            prefix = path + "." if path else ""
            if path not in own_keys:
                for attr, param in block._reg_params.items():
                    key = prefix + attr
                    shape = param._shape
                    if type(shape) is not tuple or 0 in shape or -1 in shape:
                        shape = display_shape(block, attr, param)
                    sites[key] = _new(Site, (key, param, block, path, attr,
                                             first_of(id(param), key), shape))
                continue
            # Keys of its own: find each Parameter's real owner in the
            # block's subtree by identity; keys it invents stay its own.
            keys, subtree = own_keys[path]
            nodes = self.nodes
            known: dict[int, tuple[gluon.Block, str, str]] = {}
            for node_path in subtree:
                node = nodes[node_path].block
                for attr, param in node._reg_params.items():
                    known.setdefault(id(param), (node, node_path, attr))
            for key, param in keys.items():
                owner, owner_path, attr = (known.get(id(param))
                                           or (block, path, key[len(prefix):]))
                sites[key] = _new(Site, (key, param, owner, owner_path, attr,
                                         first_of(id(param), key),
                                         display_shape(owner, attr, param)))
        return sites

    def ancestor(self, path: str, level: int) -> str:
        """The path of the block at ``level`` above (or at) block ``path``."""
        # Ends: every block path is unique and longer than its parent's
        # (the walk raised StructureError otherwise).
        nodes = self.nodes
        while nodes[path].level > level:
            parent = nodes[path].parent
            assert parent is not None  # only the root, at level 0, has none
            path = parent
        return path


def paths_by_parameter(sites: Mapping[str, Site]) -> dict[str, list[str]]:
    """First path -> every path of the same Parameter, in walk order.

    The one grouping of paths by Parameter identity (which the walk
    records as ``Site.first``): tied groups, what a safetensors file
    stores once, which paths a load fills from one value.
    """
    groups: dict[str, list[str]] = {}
    for site in sites.values():
        groups.setdefault(site.first, []).append(site.path)
    return groups


def walk(block: gluon.Block) -> Walk:
    """The structural walk of ``block`` (see :class:`Walk`)."""
    return Walk(block)
