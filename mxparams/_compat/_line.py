"""The installed MXNet line, ``_v1`` or ``_v2``, decided once at import.

Gate (compatibility §2, §3): Gluon 1.x keeps a ``ParameterDict`` per block
and gives every Parameter a process-global name; 2.x removed both in its
Block rewrite.  Whether Gluon *has* ``ParameterDict`` tells the lines apart,
not the version string; the facts that follow from it, each with its own
section, are in the chosen file.
"""
from __future__ import annotations

from mxnet import gluon

if hasattr(gluon.parameter, "ParameterDict"):
    from ._v1 import (
        CONV_CLASS,
        CONV_SHAPE_NEEDS_IN_CHANNELS,
        GLOBAL_NAMES,
        ND_MODE_SUPPORTED,
        SET_FLUSH_DENORMS,
        SHARE_PARAMETERS,
        after_cast,
        foreign_global_name,
        global_name,
        keep_symbol_names,
        list_devices,
        named_params,
        new_constant,
        new_symbol_block,
        path_of_global_name,
        register_param,
        restore_named_params,
        share,
        trainer_of,
    )
else:
    from ._v2 import (
        CONV_CLASS,
        CONV_SHAPE_NEEDS_IN_CHANNELS,
        GLOBAL_NAMES,
        ND_MODE_SUPPORTED,
        SET_FLUSH_DENORMS,
        SHARE_PARAMETERS,
        after_cast,
        foreign_global_name,
        global_name,
        keep_symbol_names,
        list_devices,
        named_params,
        new_constant,
        new_symbol_block,
        path_of_global_name,
        register_param,
        restore_named_params,
        share,
        trainer_of,
    )

__all__ = ["CONV_CLASS", "CONV_SHAPE_NEEDS_IN_CHANNELS", "GLOBAL_NAMES",
           "ND_MODE_SUPPORTED", "SET_FLUSH_DENORMS", "SHARE_PARAMETERS",
           "after_cast", "foreign_global_name", "global_name", "list_devices",
           "keep_symbol_names", "named_params", "new_constant", "new_symbol_block",
           "path_of_global_name", "register_param", "restore_named_params",
           "share", "trainer_of"]
