"""Real datasets: registered sources with checksums, a download cache, and parsers.

``rnnkit.datasets.load(name, split=...)``, e.g. ``x, y = load("mnist", "test")``; the cache is ``$RNNKIT_DATA``
(default ``~/.cache/rnnkit``).  See :mod:`rnnkit.datasets.registry`.
"""
from .cache import cache_dir
from .idx import parse_idx, read_idx
from .registry import DatasetInfo, available, fetch, in_cache, info, load

__all__ = ["load", "fetch", "info", "available", "in_cache", "cache_dir", "DatasetInfo", "parse_idx", "read_idx"]
