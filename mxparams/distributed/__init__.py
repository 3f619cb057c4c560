"""Copies of parameters that should be equal: on the devices of one
process (``check_replicas``) and across the workers of a distributed
kvstore (``check_replicas(..., kvstore=kv)``, ``sync_replicas``).

``replicas`` holds the public check, ``workers`` the comparison and
synchronisation across workers, ``_report`` the one report type of
both comparisons, ``_kvstore`` the protocol both exchange
through the kvstore.  Nothing here imports the package root.
"""
from .replicas import ReplicaReport, ReplicaRow, check_replicas
from .workers import SyncReport, SyncRow, sync_replicas

__all__ = ["ReplicaReport", "ReplicaRow", "SyncReport", "SyncRow",
           "check_replicas", "sync_replicas"]
