"""1.x global names as text: '<class><counter>_' prefixes, then the attribute.

Parsing only; which names a running MXNet has is the lines' business
(``_v1.global_name``, ``_v2.foreign_global_name``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

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
