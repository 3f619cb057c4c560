"""The one package that knows MXNet 1.x and 2.x differ, and Gluon's privates.

The installed line is decided once, at import, by what Gluon *has*, never
by its version string (``_line.py``); each line's facts live in a file of
their own, ``_v1.py`` and ``_v2.py``, behind the same names, every one with
a comment naming the difference and the section of
``docs/compatibility.md`` where it was measured.  Beside them, shims that
are the same on both lines but read Gluon's private attributes:

* ``_walk.py``: the one structural walk (:class:`Walk`);
* ``_params.py``: shapes, dtypes, state, initialization, training
  settings, tying, the Trainer's copy;
* ``_modes.py``: array modes and kinds, copies, the portable writer;
* ``_names.py``: 1.x global names as text.
* ``_models.py``: exported symbols as SymbolBlocks, parameters added
  to a block.

The rest of mxparams imports this package, never one of its files, and
never asks which MXNet it runs on.
"""
from __future__ import annotations

import mxnet as mx

from ._line import (
                    CONV_SHAPE_NEEDS_IN_CHANNELS,
                    GLOBAL_NAMES,
                    ND_MODE_SUPPORTED,
                    SHARE_PARAMETERS,
                    foreign_global_name,
                    global_name,
                    path_of_global_name,
)
from ._models import add_param, load_symbol, symbol_block
from ._modes import (
                    MODES,
                    as_array_of,
                    as_storage_of,
                    copy_into,
                    current_mode,
                    holds_np_arrays,
                    is_legacy_array,
                    is_mx_array,
                    keep_subnormals,
                    mode_array,
                    ones,
                    save_portable,
                    set_mode,
                    staging_arrays,
                    to_numpy,
)
from ._names import split_global_name
from ._params import (
                    cast,
                    data_copies,
                    devices,
                    display_shape,
                    drop_cached_graph,
                    dtype_info,
                    dtype_name,
                    has_trainer,
                    init_param,
                    initial_value,
                    is_hybridized,
                    is_initialized,
                    is_pending,
                    kvstore_keeps,
                    load_init,
                    make_constant,
                    raw_shape,
                    rollback,
                    set_values,
                    share,
                    takes_gradient,
)
from ._walk import Node, Site, Walk, paths_by_parameter, walk

#: The installed MXNet's version, for messages only: no decision reads it.
MXNET_VERSION: str = mx.__version__

__all__ = [
    "CONV_SHAPE_NEEDS_IN_CHANNELS", "GLOBAL_NAMES", "MODES", "MXNET_VERSION",
    "ND_MODE_SUPPORTED", "Node", "SHARE_PARAMETERS", "Site", "Walk",
    "as_array_of", "as_storage_of", "cast", "copy_into", "current_mode",
    "data_copies", "devices", "display_shape", "drop_cached_graph",
    "dtype_info", "dtype_name", "foreign_global_name", "global_name",
    "has_trainer", "holds_np_arrays", "init_param", "initial_value", "is_hybridized",
    "is_initialized", "is_legacy_array", "is_mx_array", "is_pending",
    "keep_subnormals", "kvstore_keeps", "load_init", "make_constant",
    "mode_array", "ones", "path_of_global_name", "paths_by_parameter", "raw_shape", "rollback",
    "save_portable", "set_mode", "set_values", "share", "split_global_name",
    "staging_arrays", "takes_gradient", "to_numpy", "walk",
    # _models.py
    "add_param", "load_symbol", "symbol_block",
]
