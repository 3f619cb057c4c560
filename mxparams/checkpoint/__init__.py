"""Checkpoints that move between MXNet versions.

``save`` writes the one file format that MXNet 1.x and 2.x load in either
array mode, or safetensors for other frameworks, keyed by structural path,
atomically.  ``load`` reads those, both versions' ``save_parameters`` files,
``export`` parameter files and safetensors files of any writer, checks
everything against the network first and changes nothing unless the whole
load succeeds.  ``inspect_checkpoint``, ``diff`` and ``convert`` work on
files alone.

Inside: ``_saveload`` (save, load), ``_plan`` (which key goes where),
``inspection`` and ``conversion``, above ``_file`` (format detection, the
reader and the writer), ``_formats/`` (one module per format),
``_atomic`` (the atomic replacement), ``_source`` (reading a file that
may change underneath) and ``_common`` (what they all share).
"""
from ._saveload import LoadReport, load, load_state_dict, read_metadata, save, state_dict
from .conversion import Conversion, convert
from .inspection import Comparison, FileArray, Inspection, diff, inspect, inspect_checkpoint

__all__ = ["Comparison", "Conversion", "FileArray", "Inspection", "LoadReport",
           "convert", "diff", "inspect", "inspect_checkpoint", "load",
           "load_state_dict", "read_metadata", "save", "state_dict"]
