"""mxparams: version-stable parameter management for MXNet Gluon.

The same calls give the same results and the same printed output on
MXNet 1.6.0 to 1.9.1 and 2.0.0b1: parameters are addressed by structural path
(``'0.1.0.bias'``, exactly the keys of ``save_parameters``), never by the
1.x global names that drift from run to run.

>>> import mxparams as mp
>>> from mxnet.gluon import nn
>>> net = nn.HybridSequential()
>>> net.add(nn.Dense(4, in_units=3))
>>> list(mp.collect(net))
['0.weight', '0.bias']
"""
from ._version import __version__ as __version__
from .assign import constant, set_data
from .checkpoint import (
                         Comparison,
                         Conversion,
                         FileArray,
                         Inspection,
                         LoadReport,
                         convert,
                         diff,
                         inspect_checkpoint,
                         load,
                         load_state_dict,
                         read_metadata,
                         save,
                         state_dict,
)
from .checkpoint import inspect as inspect  # the 0.1 name, see below
from .distributed import (
                         ReplicaReport,
                         ReplicaRow,
                         SyncReport,
                         SyncRow,
                         check_replicas,
                         sync_replicas,
)
from .errors import (
                         BlockNotFound,
                         CheckpointDTypeMismatch,
                         CheckpointError,
                         CheckpointNotFound,
                         CheckpointShapeMismatch,
                         DTypeMismatch,
                         Mismatch,
                         ModelError,
                         MxparamsError,
                         NonFiniteError,
                         ParamNotFound,
                         ReplicaMismatch,
                         ShapeMismatch,
                         StructureError,
)
from .finite import FiniteReport, FiniteRow, check_finite
from .initialization import Initializer, initialize
from .lookup import get, get_block
from .models import load_model
from .monitor import StatRow, Stats, Watch, WatchRow, stats
from .params import ParamDict, collect
from .plot import plot_hist, plot_watch
from .summaries import Row, Summary, summary
from .training import ConfigureReport, ConfigureRow, cast, configure, freeze, unfreeze
from .trees import Tree, TreeRow, tree
from .tying import tie, tied_groups

# ``inspect``, the 0.1 name of inspect_checkpoint, is still importable but
# not in __all__: a star import would shadow the standard module.
__all__ = [
    "BlockNotFound",
    "CheckpointDTypeMismatch",
    "CheckpointError",
    "CheckpointNotFound",
    "CheckpointShapeMismatch",
    "Comparison",
    "ConfigureReport",
    "ConfigureRow",
    "Conversion",
    "DTypeMismatch",
    "FileArray",
    "FiniteReport",
    "FiniteRow",
    "Initializer",
    "Inspection",
    "LoadReport",
    "Mismatch",
    "ModelError",
    "MxparamsError",
    "NonFiniteError",
    "ParamDict",
    "ParamNotFound",
    "ReplicaMismatch",
    "ReplicaReport",
    "ReplicaRow",
    "Row",
    "ShapeMismatch",
    "StatRow",
    "Stats",
    "StructureError",
    "Summary",
    "SyncReport",
    "SyncRow",
    "Tree",
    "TreeRow",
    "Watch",
    "WatchRow",
    "cast",
    "check_finite",
    "check_replicas",
    "collect",
    "configure",
    "constant",
    "convert",
    "diff",
    "freeze",
    "get",
    "get_block",
    "initialize",
    "inspect_checkpoint",
    "load",
    "load_model",
    "load_state_dict",
    "plot_hist",
    "plot_watch",
    "read_metadata",
    "save",
    "set_data",
    "state_dict",
    "stats",
    "summary",
    "sync_replicas",
    "tie",
    "tied_groups",
    "tree",
    "unfreeze",
]
