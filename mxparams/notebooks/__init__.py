"""Notebook validation for CI: do a notebook's stored outputs hold on the
MXNet versions and CPUs its readers have?

``check`` runs notebooks with nbval's strict comparison under several
interpreters and simulated CPUs (:data:`PROFILES`) and names, cell by
cell, the cause of each difference; ``store`` writes outputs back only
where they agree in all of them.  Needs the ``notebooks`` extra
(``pip install mxparams[notebooks]``: nbval, nbformat, ipykernel); the
command line is ``mxparams notebooks check``.
"""
from .check import CellResult, NotebookCheck, check
from .store import StoreReport, store
from .profiles import PROFILES, Profile

__all__ = ["PROFILES", "CellResult", "NotebookCheck", "Profile", "StoreReport", "check",
           "store"]
