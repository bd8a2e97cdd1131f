"""Real datasets: registered sources with checksums, a download cache, and parsers.

``rnnkit.datasets.load(name, split=...)``, e.g. ``x, y = load("mnist", "test")``; the cache is ``$RNNKIT_DATA``
(default ``~/.cache/rnnkit``).  See :mod:`rnnkit.datasets.registry`.
:mod:`rnnkit.datasets.imdb_sequences` gives IMDB as Keras' ``imdb.load_data``
does (reviews as lists of word ids ranked by frequency).
"""
from .cache import cache_dir
from .idx import parse_idx, read_idx
from .registry import DatasetInfo, available, fetch, imdb_movie_groups, in_cache, info, load

__all__ = ["load", "fetch", "info", "available", "in_cache", "cache_dir", "DatasetInfo", "parse_idx", "read_idx",
           "imdb_movie_groups"]
