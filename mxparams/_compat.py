"""The one module that knows MXNet 1.x and 2.x differ.

Every difference is decided once, at import, by looking at what the installed
MXNet *does* or *has* rather than at its version string.  Each gate carries a
comment naming the difference (the section numbers refer to
``shared/COMPAT.md``).  Everything else in mxparams calls the small shims
below and never asks which MXNet it runs on.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import weakref
from typing import Iterator

import numpy
import mxnet as mx
from mxnet import gluon

MXNET_VERSION: str = mx.__version__

# Gate (COMPAT §2, §3): 1.x gives every Parameter a process-global name
# ('dense0_weight', counted per class) and keeps a ParameterDict per block;
# 2.x names are only the attribute ('weight', not unique) and ParameterDict
# is gone.  Global names are only meaningful, and only looked up, on 1.x.
GLOBAL_NAMES: bool = hasattr(gluon.parameter, "ParameterDict")

# Gate (COMPAT §13): Gluon 2 is numpy-only (its Block rejects legacy
# mx.nd inputs and builds mx.np parameters even after reset_np), whereas 1.x
# runs in either mode and several 1.x model-zoo networks only run in legacy
# nd mode.  The nd-era Block constructor, ``Block(prefix=None, params=None)``,
# went away in the same rewrite (2.x: ``Block()``), so its presence tells.
ND_MODE_SUPPORTED: bool = "prefix" in gluon.Block.__init__.__code__.co_varnames

#: The array modes mxparams supports on the installed MXNet.
MODES: tuple[str, ...] = ("np", "nd") if ND_MODE_SUPPORTED else ("np",)

# Gate (COMPAT §16): Gluon 2's convolution layers pre-infer their weight
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


def children(block: gluon.Block) -> Iterator[tuple[str, gluon.Block]]:
    """(name, child) pairs in registration order.

    2.x keeps ``_children`` values as weak references, 1.x as the blocks
    themselves (COMPAT §3, §4); a reference whose block was collected is
    reported instead of crashing later with Gluon's 'weak object has gone
    away'.
    """
    for name, child in block._children.items():
        if isinstance(child, weakref.ref):
            resolved = child()
            if resolved is None:
                raise RuntimeError(
                    f"child {name!r} of {type(block).__name__} was garbage "
                    "collected: Gluon 2 only keeps a weak reference to children "
                    "added with register_child; keep the child as an attribute "
                    "or in a Sequential")
            child = resolved
        yield name, child


def own_params(block: gluon.Block) -> dict:
    """The block's own parameters by attribute name (the same in 1.x and 2.x)."""
    return block._reg_params


def structural_params(block: gluon.Block) -> dict:
    """Gluon's own structural traversal: path -> Parameter.

    ``_collect_params_with_prefix`` is private, but it is what
    ``save_parameters`` writes, and it has the same keys and order in both
    versions (COMPAT §3).
    """
    return block._collect_params_with_prefix()


def global_name(param: gluon.Parameter) -> str | None:
    """The 1.x process-global name ('dense0_weight'); None on 2.x."""
    return param.name if GLOBAL_NAMES else None


def raw_shape(param: gluon.Parameter) -> tuple | None:
    """The shape with every unknown dimension as None.

    1.x nd mode marks unknown dims with 0, numpy mode with -1 (COMPAT §6).
    Gluon parameters are never zero-sized, so both mean "unknown".
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

    Like ``raw_shape``, plus the convolution input dimension that 1.x knows
    from ``in_channels`` at construction (see the gate above).
    """
    shape = raw_shape(param)
    if (CONV_SHAPE_NEEDS_IN_CHANNELS and shape is not None and attr == "weight"
            and isinstance(block, _CONV) and block._in_channels
            and None in shape):
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


@functools.lru_cache(maxsize=None)
def _dtype_info(dtype) -> tuple[str, int]:
    d = numpy.dtype(dtype)
    return d.name, d.itemsize


def dtype_info(param: gluon.Parameter) -> tuple[str, int]:
    """(name, itemsize): ('float32', 4) in every mode (1.x nd mode keeps
    a numpy type object where numpy mode keeps a string)."""
    return _dtype_info(param.dtype)


def dtype_name(param: gluon.Parameter) -> str:
    return _dtype_info(param.dtype)[0]


def is_pending(param: gluon.Parameter) -> bool:
    """initialize() was called but the shape is unknown (deferred init)."""
    return bool(param._deferred_init)


def is_initialized(param: gluon.Parameter) -> bool:
    return param._data is not None


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
    device type, and no setting silences it (COMPAT §1).  Allocating once on
    ``cpu`` and ``cpu_pinned`` with fd 2 redirected uses the line up.  1.x
    prints nothing, so this costs a few microseconds there.  Programs that
    print (the command line, the notebooks) call it once at start-up;
    importing mxparams does not.
    """
    with _stderr_to_devnull(), mx.util.np_array(False), mx.util.np_shape(False):
        for device in (mx.cpu(), mx.cpu_pinned()):
            mx.nd.zeros((1,), ctx=device).wait_to_read()


def add_param(block: gluon.Block, name: str, **kwargs) -> gluon.Parameter:
    """Create a Parameter owned by ``block`` as attribute ``name``.

    1.x only initializes (and names) parameters created through the block's
    ParameterDict, ``block.params.get`` (a bare ``gluon.Parameter`` attribute
    is saved but skipped by ``initialize``); 2.x has no ParameterDict and
    takes a plain ``gluon.Parameter`` (COMPAT §3).
    """
    if GLOBAL_NAMES:
        param = block.params.get(name, **kwargs)
    else:
        param = gluon.Parameter(name, **kwargs)
    setattr(block, name, param)
    return param


# --- initialization, tying, constants (issue 3) ---

# Gate (COMPAT §9): 2.x renamed Parameter.list_ctx to list_device (and
# list_ctx warns there); both return the devices of the copies, or while
# initialization is deferred, the devices it will use.
_LIST_DEVICES = getattr(gluon.Parameter, "list_device", None) or gluon.Parameter.list_ctx


def attr_name(param: gluon.Parameter) -> str:
    """The attribute-level name ('weight') on both versions.

    2.x names a Parameter by its attribute only; 1.x prefixes the global
    block names ('dense0_weight', 'hybridsequential0_dense1_bias').
    """
    if not GLOBAL_NAMES:
        return param.name
    return re.sub(r"^(?:[a-z]+\d+_)+", "", param.name)


def devices(param: gluon.Parameter) -> list:
    """The devices holding copies of ``param`` ([] if not initialized)."""
    if param._data is None and not param._deferred_init:
        return []
    return list(_LIST_DEVICES(param))


# Gate (COMPAT §8): 2.x ties blocks after construction with the official
# Block.share_parameters; 1.x has no such method and forbids re-assigning a
# Parameter attribute, so the tie is done on the three structures that
# 1.x's own ``params=`` sharing ends up with (the verified helper H4).
SHARE_PARAMETERS: bool = hasattr(gluon.Block, "share_parameters")


def _owner(root: gluon.Block, path: str) -> tuple[gluon.Block, str]:
    *names, attr = path.split(".")
    block = root
    for name in names:
        block = dict(children(block))[name]
    return block, attr


def share(dst: gluon.Block, mapping: dict) -> None:
    """Make ``dst`` use the given Parameters: {structural path in dst: Parameter}."""
    if SHARE_PARAMETERS:
        dst.share_parameters(dict(mapping))
        return
    for path, new in mapping.items():
        block, attr = _owner(dst, path)
        old = block._reg_params[attr]
        block._reg_params[attr] = new
        object.__setattr__(block, attr, new)
        # 1.x initialize() and Trainer read the block's ParameterDict,
        # keyed by global name: the tied Parameter replaces the old one.
        block._params._params.pop(old.name, None)
        block._params._params[new.name] = new


def make_constant(block: gluon.Block, name: str, value) -> gluon.Parameter:
    """A grad_req='null' Parameter holding ``value``, owned by ``block``.

    1.x creates constants through the block's ParameterDict
    (``params.get_constant(name, value)``; ``Constant(value)`` raises);
    2.x has no ParameterDict and takes ``gluon.Constant(value)``
    (``Constant(name, value)`` raises) (COMPAT §2).
    """
    if GLOBAL_NAMES:
        param = block.params.get_constant(name, value)
    else:
        param = gluon.Constant(value)
    setattr(block, name, param)
    return param


# --- checkpoints ---

def _as_nd(value):
    if isinstance(value, mx.nd.NDArray):  # mx.np too: a view, not a copy
        return value.as_nd_ndarray()
    return mx.nd.array(value, dtype=value.dtype)


def save_portable(fname: str, arrays: dict) -> None:
    """Write {key: array} in the one format every version and mode loads.

    Each version's own ``save_parameters`` writes a file another setup
    cannot load (COMPAT §10): 2.x writes a NumPy ``.npz`` that 1.x rejects,
    and 1.x in numpy mode flags its file "np shape", which 1.x in nd mode
    rejects.  MXNet's NDArray-list writer with numpy semantics switched off
    writes the flag-free legacy format, verified to load on 1.9.1 and 2.0
    in both modes.  ``arrays`` holds MXNet (np or nd) or NumPy arrays.
    """
    with mx.util.np_array(False), mx.util.np_shape(False):
        mx.nd.save(fname, {key: _as_nd(value) for key, value in arrays.items()})


def load_init(param: gluon.Parameter, array) -> None:
    """Gluon's own load step: set every copy, or initialize with the file's shape.

    ``Parameter._load_init`` names its second argument ``ctx`` on 1.x and
    ``device`` on 2.x (COMPAT §1); None means "the parameter's own devices"
    (or the pending ones of deferred initialization, or the CPU) on both.
    """
    param._load_init(array, None)
