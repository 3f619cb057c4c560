"""The one module that knows MXNet 1.x and 2.x differ, and Gluon's privates.

Every difference is decided once, at import, by looking at what the installed
MXNet *does* or *has* rather than at its version string.  Each gate carries a
comment naming the difference and the section of ``docs/compatibility.md``
where it was measured.  This is also the only module that reads Gluon's
private attributes (``_reg_params``, ``_children``, ``_data``, ...): the rest
of mxparams calls the small shims below and the one structural walk,
:class:`Walk`, and never asks which MXNet it runs on.
"""
from __future__ import annotations

import contextlib
import ctypes
import inspect
import math
import os
import re
import warnings
import weakref
from typing import Iterable, Mapping, NamedTuple

import numpy
import mxnet as mx
from mxnet import gluon

MXNET_VERSION: str = mx.__version__

# Gate (compatibility §2): 1.x gives every Parameter a process-global name
# ('dense0_weight', counted per class) and keeps a ParameterDict per block;
# 2.x names are only the attribute ('weight', not unique) and ParameterDict
# is gone.  Global names are only meaningful, and only looked up, on 1.x.
GLOBAL_NAMES: bool = hasattr(gluon.parameter, "ParameterDict")

# Gate (compatibility §10): Gluon 2 is numpy-only (its Block rejects legacy
# mx.nd inputs and builds mx.np parameters even after reset_np), whereas 1.x
# runs in either mode and several 1.x model-zoo networks only run in legacy
# nd mode.  The nd-era Block constructor, ``Block(prefix=None, params=None)``,
# went away in the same rewrite (2.x: ``Block()``), so its presence tells.
ND_MODE_SUPPORTED: bool = "prefix" in gluon.Block.__init__.__code__.co_varnames

#: The array modes mxparams supports on the installed MXNet.
MODES: tuple[str, ...] = ("np", "nd") if ND_MODE_SUPPORTED else ("np",)

# Gate (compatibility §4): Gluon 2's convolution layers pre-infer their weight
# shape from kernel and channels only (``_Conv.pre_infer``) and leave the
# input-channel dimension unknown until the first forward pass even when
# ``in_channels`` was given; 1.x fills it in at construction.  For display we
# fill it from the layer's own settings with the rule of Gluon's
# ``_Conv.infer_shape``, so a summary before the first forward pass reads
# the same on both.  The Parameter itself is never touched.
_CONV = getattr(gluon.nn.conv_layers, "_Conv", None)
CONV_SHAPE_NEEDS_IN_CHANNELS: bool = _CONV is not None and hasattr(_CONV, "pre_infer")


def set_mode(mode: str) -> None:
    """Switch MXNet's array semantics: 'np' (numpy, the tutorial's) or 'nd'.

    Only ``MODES`` are accepted: legacy 'nd' mode exists on 1.x only.
    """
    from mxnet import npx
    if mode not in MODES:
        raise ValueError(
            f"array mode {mode!r} is not supported on MXNet {MXNET_VERSION}; "
            f"choose one of {', '.join(MODES)}")
    if mode == "np":
        npx.set_np()
    else:
        npx.reset_np()


def current_mode() -> str:
    """'np' when numpy array semantics are on, else 'nd'."""
    return "np" if mx.util.is_np_array() else "nd"


# --- the structural walk -------------------------------------------------

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
# unique paths; errors.py imports this module, hence the late imports.

def _empty_name(block: gluon.Block, path: str, name: object,
                child: gluon.Block) -> ValueError:
    from .errors import StructureError
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
    from .errors import StructureError

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
    from .errors import StructureError
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
    from .errors import StructureError
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


def children(block: gluon.Block, path: str = "") -> list[tuple[str, gluon.Block]]:
    """(name, child) pairs in registration order.

    2.x keeps ``_children`` values as weak references, 1.x the blocks
    themselves (compatibility §3); a reference whose block was collected is
    reported, naming where it was, instead of Gluon's 'weak object has gone
    away' or ``'NoneType' object has no attribute``.
    """
    found = []
    for name, child in block._children.items():
        if type(child) is weakref.ref:
            resolved = child()
            if resolved is None:
                raise _lost_child(block, path, name)
            child = resolved
        found.append((name, child))
    return found


_DEFAULT_COLLECT = inspect.unwrap(gluon.Block._collect_params_with_prefix)
_OWN_TRAVERSAL: dict[type, bool] = {}


def _own_traversal(cls: type) -> bool:
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
        stack = [("", root, None, "", 0, None)]
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
        first_of = {}.setdefault
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
            known = {}
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
            path = nodes[path].parent
        return path


def walk(block: gluon.Block) -> Walk:
    """The structural walk of ``block`` (see :class:`Walk`)."""
    return Walk(block)


# --- shapes and dtypes -----------------------------------------------------

def raw_shape(param: gluon.Parameter) -> tuple | None:
    """The shape with every unknown dimension as None.

    1.x nd mode marks unknown dims with 0, numpy mode with -1 (compatibility
    §4).  Gluon parameters are never zero-sized, so both mean "unknown".
    """
    # _shape, not the shape property: the property asks MXNet for the
    # array mode on every call, and only swaps 0 for -1.
    shape = param._shape
    if shape is None:
        return None
    if 0 in shape or -1 in shape:
        return tuple(d if d > 0 else None for d in shape)
    return tuple(shape)


def display_shape(block: gluon.Block | None, attr: str,
                  param: gluon.Parameter) -> tuple | None:
    """The shape as both versions know it before the first forward pass.

    Like ``raw_shape``, completed where it is unknown: from the data once
    the Parameter holds some (a ``SymbolBlock`` loaded from an export leaves
    ``Parameter.shape`` None on 1.x and 2.x, compatibility §4), and with the
    convolution input dimension that 1.x knows from ``in_channels`` at
    construction (see the gate above).
    """
    shape = raw_shape(param)
    if shape is not None and None not in shape:
        return shape
    data = param._data
    if data:
        return tuple(data[0].shape)
    if (CONV_SHAPE_NEEDS_IN_CHANNELS and shape is not None and attr == "weight"
            and isinstance(block, _CONV) and block._in_channels):
        filled = list(shape)
        if block._op_name == "convolution":
            axis = block._layout.find("C")
            size = block._in_channels // block._groups
        else:  # deconvolution keeps input channels on the first axis
            axis = block._layout.find("N")
            size = block._in_channels
        if filled[axis] is None:
            filled[axis] = size
        shape = tuple(filled)
    return shape


_DTYPES: dict = {}


def dtype_info(param: gluon.Parameter) -> tuple[str, int]:
    """(name, itemsize): ('float32', 4) in every mode (1.x nd mode keeps
    a numpy type object where numpy mode keeps a string, compatibility §10)."""
    dtype = param.dtype
    info = _DTYPES.get(dtype)
    if info is None:
        d = numpy.dtype(dtype)
        info = _DTYPES[dtype] = (d.name, d.itemsize)
    return info


def dtype_name(param: gluon.Parameter) -> str:
    return dtype_info(param)[0]


# --- parameter state -------------------------------------------------------

def is_pending(param: gluon.Parameter) -> bool:
    """initialize() was called but the shape is unknown (deferred init)."""
    return bool(param._deferred_init)


def is_initialized(param: gluon.Parameter) -> bool:
    return param._data is not None


def data_copies(param: gluon.Parameter) -> list:
    """The device copies of an initialized ``param``'s data, whole.

    Gluon's ``list_data()`` refuses a parameter stored row-sparse (1.x's
    ``contrib.nn.SparseEmbedding``: "use row_sparse_data() instead").  Its
    Trainer keeps the weight in its kvstore and the parameter holds only
    the rows the last forward pass pulled, so every row is pulled first,
    with Gluon's own ``row_sparse_data`` (as ``save_parameters`` does);
    without a Trainer the arrays are the weight.
    """
    if param._stype != "default" and param._trainer is not None:
        for device in devices(param):
            rows = mx.nd.arange(0, param.shape[0], dtype="int64").copyto(device)
            param.row_sparse_data(rows)
    return list(param._data)


def as_storage_of(value, array):
    """``value`` (a legacy MXNet array) in the storage type of ``array``.

    A row-sparse parameter holds row_sparse arrays; assigning a dense
    array into one makes MXNet cast it on the fly and log "Storage
    fallback detected" to fd 2, where a cast beforehand is silent.
    """
    stype = getattr(array, "stype", "default")
    return value if value.stype == stype else value.tostype(stype)


def holds_np_arrays(param: gluon.Parameter) -> bool:
    """Whether the data are mx.np arrays (else legacy mx.nd ones).

    The kind follows the parameter's existing data, else the current mode,
    as Gluon's own ``load_parameters`` decides (compatibility §10).
    """
    data = param._data
    if data:
        return isinstance(data[0], mx.np.ndarray)
    return current_mode() == "np"


# Gate (compatibility §1): 2.x renamed Parameter.list_ctx to list_device (and
# list_ctx warns there); both return the devices of the copies, or while
# initialization is deferred, the devices it will use.
_LIST_DEVICES = getattr(gluon.Parameter, "list_device", None) or gluon.Parameter.list_ctx


def devices(param: gluon.Parameter) -> tuple:
    """The devices holding copies of ``param`` (() if not initialized)."""
    if param._data is None and not param._deferred_init:
        return ()
    return tuple(_LIST_DEVICES(param))


# --- 1.x global names ------------------------------------------------------

# A 1.x global name: '<class><counter>_' prefixes (one per enclosing
# name_scope), then the attribute: 'dense0_weight',
# 'hybridsequential0_batchnorm1_running_mean' (compatibility §2).
_GLOBAL_NAME = re.compile(r"^((?:[a-z]+\d+_)*[a-z]+\d+)_([A-Za-z_]\w*)$")


def split_global_name(name: str, attrs: Iterable[str] | None = None
                      ) -> tuple[str, str] | None:
    """A 1.x global name as (block prefix, attribute), or None if it is not one.

    Without ``attrs`` the grammar decides ('dense0_weight' -> ('dense0',
    'weight')).  An attribute may look like a prefix itself (the fused RNN's
    'l0_i2h_weight'), so with ``attrs``, the attribute names a network really
    has, the longest one that ends the name wins.

    >>> split_global_name("hybridsequential0_dense1_bias")
    ('hybridsequential0_dense1', 'bias')
    >>> split_global_name("lstm0_l0_i2h_weight", ["weight", "l0_i2h_weight"])
    ('lstm0', 'l0_i2h_weight')
    >>> split_global_name("0.weight") is None
    True
    """
    if attrs is not None:
        for attr in sorted(set(attrs), key=len, reverse=True):
            if name.endswith("_" + attr) and len(name) > len(attr) + 1:
                return name[:-len(attr) - 1], attr
        return None
    found = _GLOBAL_NAME.match(name)
    return (found.group(1), found.group(2)) if found else None


def global_name(param: gluon.Parameter) -> str | None:
    """The 1.x process-global name ('dense0_weight'); None on 2.x."""
    return param.name if GLOBAL_NAMES else None


def path_of_global_name(params: Mapping[str, gluon.Parameter],
                        name: str) -> str | None:
    """The path whose Parameter carries the 1.x global name ``name``.

    None when no parameter has that name, and always on 2.x, where
    parameters have no global names.
    """
    if not GLOBAL_NAMES:
        return None
    for path, param in params.items():
        if param.name == name:
            return path
    return None


def foreign_global_name(name: str) -> tuple[str, str] | None:
    """(block class, attribute) of a 1.x-style name used where none exist.

    On 2.x a name such as 'dense0_weight' can only come from 1.x code or
    output; the class ('dense') and attribute help find the path.  On 1.x
    such names are real (see ``path_of_global_name``), so this is None.
    """
    if GLOBAL_NAMES:
        return None
    parts = split_global_name(name)
    if parts is None:
        return None
    prefix, attr = parts
    return re.sub(r"\d+$", "", prefix.rpartition("_")[2]), attr


# --- subnormal numbers ----------------------------------------------------

# Gate (compatibility §12): MXNet 2 sets the CPU to flush subnormal numbers
# to zero (FTZ/DAZ) on the threads that run its operators, and with
# NaiveEngine that is the Python thread, where numpy then reads 1e-40 as 0;
# it has mx.util.set_flush_denorms to switch this per thread.  1.x has no
# such switch and leaves the Python thread alone.
_SET_FLUSH_DENORMS = getattr(mx.util, "set_flush_denorms", None)
# Made from its bits: converting 1e-40 on a flushing thread gives 0.
_SUBNORMAL = numpy.array([71362], dtype=numpy.uint32).view(numpy.float32)


@contextlib.contextmanager
def keep_subnormals():
    """numpy on this thread follows IEEE 754 for subnormals while inside."""
    if _SET_FLUSH_DENORMS is None or _SUBNORMAL[0] != 0:
        yield
        return
    previous = _SET_FLUSH_DENORMS(False)
    try:
        yield
    finally:
        _SET_FLUSH_DENORMS(previous)


# --- logging ---------------------------------------------------------------

@contextlib.contextmanager
def _stderr_to_devnull():
    """Redirect the OS-level stderr (fd 2), where MXNet's C++ logs go."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_storage_log() -> None:
    """Print MXNet 2's storage-manager log lines now, into /dev/null.

    2.x writes ``[hh:mm:ss] ../src/storage/storage.cc:202: Using Pooled
    (Naive) StorageManager for CPU`` to fd 2 at the first allocation on each
    device type, and no setting silences it (compatibility §1).  Allocating
    once on ``cpu`` and ``cpu_pinned`` with fd 2 redirected uses the line
    up.  1.x prints nothing, so this costs a few microseconds there.
    Programs that print (the command line, the notebooks) call it once at
    start-up; importing mxparams does not.
    """
    with _stderr_to_devnull(), mx.util.np_array(False), mx.util.np_shape(False):
        for device in (mx.cpu(), mx.cpu_pinned()):
            mx.nd.zeros((1,), ctx=device).wait_to_read()


# --- creating parameters ---------------------------------------------------

def add_param(block: gluon.Block, name: str, **kwargs) -> gluon.Parameter:
    """Create a Parameter owned by ``block`` as attribute ``name``.

    1.x only initializes (and names) parameters created through the block's
    ParameterDict, ``block.params.get`` (a bare ``gluon.Parameter`` attribute
    is saved but skipped by ``initialize``); 2.x has no ParameterDict and
    takes a plain ``gluon.Parameter`` (compatibility §3).
    """
    if GLOBAL_NAMES:
        param = block.params.get(name, **kwargs)
    else:
        param = gluon.Parameter(name, **kwargs)
    setattr(block, name, param)
    return param


def make_constant(block: gluon.Block, name: str, value: numpy.ndarray) -> gluon.Parameter:
    """A grad_req='null' Parameter holding ``value`` (of its dtype), owned by ``block``.

    1.x creates constants through the block's ParameterDict
    (``params.get_constant(name, value)``; ``Constant(value)`` raises);
    2.x has no ParameterDict and takes ``gluon.Constant(value)``
    (``Constant(name, value)`` raises) (compatibility §8).
    """
    # Both versions turn a numpy value into an MXNet array of the default
    # dtype (float32 in nd mode and on 2.x, numpy's own in 1.x np mode); an
    # MXNet array keeps its dtype, so it is made here, in the array kind of
    # the current mode.
    value = (mx.np.array if current_mode() == "np" else mx.nd.array)(
        value, dtype=value.dtype)
    if GLOBAL_NAMES:
        param = block.params.get_constant(name, value)
    else:
        # 2.x registers the constant's initializer under 'Constant_<id>'.
        # Once an earlier Constant is freed its id is reused and MXNet
        # warns that the new one overrides the dead one's registration:
        # harmless, but an error where warnings are (1.x puts the
        # parameter's unique name into it and never collides).
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", r".*registered with name constant_\d+ is",
                UserWarning)
            param = gluon.Constant(value)
    setattr(block, name, param)
    return param


# --- initialization --------------------------------------------------------

def initial_value(param: gluon.Parameter, default_init):
    """The value Gluon's ``param.initialize`` would give ``param`` now.

    Computed by Gluon itself, on a scratch Parameter of the same name,
    shape, dtype and own initializer, so nothing of ``param`` changes and
    the random draws are the ones Gluon would make; None while the shape
    is unknown (initialization then waits for the first forward pass).
    """
    shape = raw_shape(param)
    if shape is None or None in shape:
        return None
    scratch = gluon.Parameter(param.name, grad_req="null", shape=shape,
                              dtype=param.dtype, init=param.init)
    init_param(scratch, default_init, [mx.cpu()], True)
    return scratch.data()


def init_param(param: gluon.Parameter, default_init, devices_,
               force_reinit: bool) -> None:
    """Gluon's ``Parameter.initialize`` with ``default_init`` as the default.

    The device argument is ``ctx=`` on 1.x and ``device=`` on 2.x
    (compatibility §5); passed by position, it is the same call on both.
    ``devices_`` None means "the CPU", as in Gluon.
    """
    param.initialize(None, devices_, default_init, force_reinit)


@contextlib.contextmanager
def rollback(params: Iterable[gluon.Parameter] = (),
             blocks: Iterable[gluon.Block] = ()):
    """Put Parameters and blocks back as they were if the ``with`` body fails.

    Gluon's initialize, load of an uninitialized parameter and tying
    replace attributes (a Parameter's list of arrays, a block's parameter
    entries) and never write into the arrays they drop, so a copy of those
    attributes is the whole state.  In-place writes into arrays are not
    covered: callers check everything before writing.
    """
    saved_params = [(p, dict(p.__dict__)) for p in params]
    saved_blocks = [(b, dict(b.__dict__), dict(b._reg_params),
                     dict(b._params._params) if GLOBAL_NAMES else None)
                    for b in blocks]
    try:
        yield
    except BaseException:
        for param, state in saved_params:
            param.__dict__.clear()
            param.__dict__.update(state)
        for block, state, reg, named in saved_blocks:
            block.__dict__.clear()
            block.__dict__.update(state)
            block._reg_params.clear()
            block._reg_params.update(reg)
            if named is not None:  # 1.x: the ParameterDict by global name
                block._params._params.clear()
                block._params._params.update(named)
        raise


# --- tying -----------------------------------------------------------------

# Gate (compatibility §7): 2.x ties blocks after construction with the
# official Block.share_parameters; 1.x has no such method and forbids
# re-assigning a Parameter attribute, so the tie is done on the three
# structures that 1.x's own ``params=`` sharing ends up with.
SHARE_PARAMETERS: bool = hasattr(gluon.Block, "share_parameters")


def share(replacements: Iterable[tuple[gluon.Block, str, gluon.Parameter]]) -> None:
    """Make each (owner block, attribute) use the given Parameter.

    2.x: the owner's own ``share_parameters({attribute: parameter})``, which
    is keyed relative to the block it is called on, so blocks with keys of
    their own (a ``SymbolBlock``'s '0.weight', a fused RNN) tie too.  1.x:
    the attribute, ``_reg_params`` and the block's ParameterDict (keyed by
    global name, read by ``initialize`` and ``Trainer``) get the new one.
    """
    if SHARE_PARAMETERS:
        by_owner: dict[int, tuple[gluon.Block, dict]] = {}
        for owner, attr, new in replacements:
            by_owner.setdefault(id(owner), (owner, {}))[1][attr] = new
        for owner, mapping in by_owner.values():
            owner.share_parameters(mapping)
        return
    for owner, attr, new in replacements:
        old = owner._reg_params[attr]
        owner._reg_params[attr] = new
        object.__setattr__(owner, attr, new)
        owner._params._params.pop(old.name, None)
        owner._params._params[new.name] = new


def is_hybridized(block: gluon.Block) -> bool:
    """Whether ``hybridize()`` is on for this block (a cached graph may exist)."""
    return bool(getattr(block, "_active", False))


def drop_cached_graph(block: gluon.Block) -> None:
    """Forget a hybridized block's cached graph; it is traced again next call.

    A cached graph keeps the Parameters it was traced with, so after a tie
    the old ones would still be used (compatibility §7).
    """
    clear = getattr(block, "_clear_cached_op", None)
    if clear is not None:
        clear()


# --- checkpoints -----------------------------------------------------------

def _as_nd(value):
    if isinstance(value, mx.nd.NDArray):  # mx.np too: a view, not a copy
        value = value.as_nd_ndarray()
        # A row-sparse parameter is saved whole (the portable format and
        # every version's loader take dense arrays).
        return value if value.stype == "default" else value.tostype("default")
    return mx.nd.array(value, dtype=value.dtype)


def save_portable(fname: str, arrays: dict, progress=None) -> None:
    """Write {key: array} in the one format every version and mode loads.

    Each version's own ``save_parameters`` writes a file another setup
    cannot load (compatibility §9): 2.x writes a NumPy ``.npz`` that 1.x
    rejects, and 1.x in numpy mode flags its file "np shape", which 1.x in
    nd mode rejects.  MXNet's NDArray-list writer with numpy semantics
    switched off writes the flag-free legacy format, verified to load on
    1.9.1 and 2.0 in both modes.  ``arrays`` holds MXNet (np or nd) or
    NumPy arrays; ``progress(n)`` is told the bytes of each array as it is
    converted.
    """
    with mx.util.np_array(False), mx.util.np_shape(False):
        converted = {}
        for key, value in arrays.items():
            converted[key] = _as_nd(value)
            if progress is not None:
                progress(value.nbytes)
        mx.nd.save(fname, converted)


def load_init(param: gluon.Parameter, array) -> None:
    """Gluon's own load step: set every copy, or initialize with the file's shape.

    ``Parameter._load_init`` names its second argument ``ctx`` on 1.x and
    ``device`` on 2.x (compatibility §1); None means "the parameter's own
    devices" (or the pending ones of deferred initialization, or the CPU)
    on both.
    """
    param._load_init(array, None)


#: dtypes of the staging arrays below (bool: 1.x legacy arrays have none).
_STAGING_DTYPES = frozenset(["float16", "float32", "float64", "uint8", "int8",
                             "int32", "int64"])


def staging_arrays(specs: list[tuple[tuple, numpy.dtype]]) -> list:
    """For each (shape, dtype): an MXNet array on the CPU and a writable
    view of its bytes, to read a file straight into; None where a NumPy
    array must do (another dtype, a byte order that is not the host's,
    an empty shape).

    The arrays come from MXNet's own storage pool, as those of Gluon's
    ``load_parameters`` do: it keeps memory that freed arrays (the
    activations of a forward pass) had mapped already, where a new NumPy
    array of hundreds of MB is mapped page by page as it is written
    (docs/checkpoints.md, "Time and memory").  ``MXNDArrayGetData`` of
    MXNet's C API (the same in 1.x and 2.x) gives the address; the view
    is used only while the array is held.
    """
    out = []
    for shape, dtype in specs:
        dtype = numpy.dtype(dtype)
        if (dtype.name not in _STAGING_DTYPES or not dtype.isnative
                or not shape or 0 in shape):
            out.append(None)
            continue
        with mx.util.np_array(False), mx.util.np_shape(False):
            array = mx.nd.empty(shape, dtype=dtype.name)
        pointer = ctypes.c_void_p()
        mx.base.check_call(mx.base._LIB.MXNDArrayGetData(array.handle,
                                                         ctypes.byref(pointer)))
        size = math.prod(shape) * dtype.itemsize
        out.append((array, memoryview((ctypes.c_ubyte * size).from_address(
            pointer.value)).cast("B")))
    return out


def kvstore_keeps(param: gluon.Parameter) -> str | None:
    """Whether a Trainer keeps its own copy of ``param`` in a kvstore:
    None, 'local' or 'distributed'.

    A Trainer that updates on its kvstore (Gluon's default on several
    devices, and on a parameter server) keeps the weights there and pulls
    them into the parameter after every step, so a value written into the
    parameter alone is undone by the next step.  Gluon's own ``set_data``
    resets such a kvstore, which then starts again from the parameter's
    value, and refuses a distributed one ("Cannot reset distributed
    KVStore."), whose servers hold the weights.  Parameters without
    gradients (BatchNorm's running statistics) are never pulled back.
    """
    # Gate (compatibility §6): 1.x keeps the Trainer itself in
    # Parameter._trainer, 2.x a weak reference to it.
    trainer = param._trainer
    if isinstance(trainer, weakref.ref):
        trainer = trainer()
    if (trainer is None or param.grad_req == "null"
            or not trainer._kv_initialized or not trainer._update_on_kvstore
            or param in trainer._params_to_init):
        return None
    return "distributed" if "dist" in trainer._kvstore.type else "local"


def as_array_of(param: gluon.Parameter, value, dtype=None):
    """``value`` (NumPy, mx.np or legacy mx.nd) as an array ``param`` takes:
    of the kind it holds (mx.np or mx.nd, compatibility §6 and §10) and,
    once it holds data, in its storage type (``as_storage_of``).  An MXNet
    array is viewed, not copied; a NumPy array is made one of ``dtype``
    (its own by default).
    """
    holds_np = holds_np_arrays(param)
    if isinstance(value, mx.np.ndarray):
        if holds_np:
            return value
        value = value.as_nd_ndarray()
    elif isinstance(value, mx.nd.NDArray):
        if holds_np:
            return value.as_np_ndarray()
    else:
        value = (mx.np.array if holds_np else mx.nd.array)(
            value, dtype=dtype or value.dtype)
        if holds_np:
            return value
    return as_storage_of(value, param._data[0]) if param._data else value


def set_values(param: gluon.Parameter, value) -> None:
    """Set every copy of an initialized ``param`` to ``value`` (NumPy, or a
    legacy MXNet array on the CPU), and the Trainer's copy with them:
    Gluon's own ``set_data`` where a Trainer keeps the parameter in its
    local kvstore (see ``kvstore_keeps``; the caller refuses a distributed
    one first), else :func:`copy_into`."""
    if kvstore_keeps(param) is None:
        copy_into(param, value)
    else:
        param.set_data(as_array_of(param, value))


def copy_into(param: gluon.Parameter, value) -> None:
    """Copy ``value`` into every device copy of an initialized ``param``.

    A legacy MXNet array (a staging array) is copied by MXNet's copy
    operator, as Gluon's own ``set_data`` copies: it reorders into
    oneDNN's layouts and crosses devices.  From a NumPy array, MXNet
    copies a host copy straight from the numpy buffer (``_sync_copyfrom``,
    what ``array[:] = numpy_array`` runs on both versions), with no array
    in between; where it cannot (copies on other devices, arrays in
    oneDNN's layouts, below, row-sparse arrays) through an MXNet array and
    the operator.  The caller has checked shape and dtype.
    """
    if isinstance(value, mx.nd.NDArray):
        for array in param._data:
            if isinstance(array, mx.np.ndarray):
                value.copyto(array.as_nd_ndarray())
            else:
                as_storage_of(value, array).copyto(array)
        return
    for array, device in zip(param._data, devices(param)):
        # 'cpu', 'cpu_pinned', 'cpu_shared': host memory; a row_sparse
        # array has no buffer of the whole (it refuses the copy).
        if (device.device_type.startswith("cpu")
                and getattr(array, "stype", "default") == "default"):
            try:
                array._sync_copyfrom(value)
                continue
            except mx.base.MXNetError:
                # Gate (compatibility §13), by behaviour, per array: after a
                # forward pass oneDNN (1.x "MKLDNN", 2.x "DNNL"; on unless
                # MXNET_MKLDNN_ENABLED / MXNET_ONEDNN_ENABLED is 0) keeps
                # convolution weights in a blocked layout of its own, which
                # has no plain buffer: the copy from the host refuses it
                # ("We can't generate TBlob for ... data") before writing.
                pass
        # MXNet's copy operator reorders into oneDNN's layouts and crosses
        # devices.
        source = mx.nd.array(value, dtype=value.dtype)
        if isinstance(array, mx.np.ndarray):
            source.copyto(array.as_nd_ndarray())
        else:
            as_storage_of(source, array).copyto(array)
