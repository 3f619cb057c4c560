"""The version of mxparams, kept in one place: pyproject.toml.

It is read from the installed distribution's metadata.  A checkout put on
``sys.path`` without being installed has no metadata and reports
``0+unknown`` (a PEP 440 local version that sorts below every release).
"""
from __future__ import annotations

from importlib import metadata

try:
    __version__: str = metadata.version("mxparams")
except metadata.PackageNotFoundError:
    __version__ = "0+unknown"
