"""Moved: the training-free transfer proxies are :mod:`taskonomy.affinity.transfer_proxies`.

Transitional (issue 24): kept only so that ``taskonomy/pipeline/proxy.py`` and
``taskonomy/pipeline/fast.py``, which another change is moving, keep importing while it lands.
They should import these names from ``taskonomy.affinity``; then delete this module.
"""

from __future__ import annotations

from taskonomy.affinity.transfer_proxies import PROXY_METHODS, ProxyCache, proxy_affinities, transfer_proxy

__all__ = ["PROXY_METHODS", "ProxyCache", "proxy_affinities", "transfer_proxy"]
