"""The ``rnnkit`` command: parsing and messages only; the work is in :mod:`rnnkit.apps`.

User errors (any :class:`rnnkit.errors.RnnkitError`) print one line and exit with code 2.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError, RnnkitError
from .forecast import add_forecast
from .classify import add_classify
from .textgen import add_demo, add_lm, add_textgen

__all__ = ["main"]


def _datasets(args: argparse.Namespace) -> int:
    from .. import datasets

    if args.action == "list":
        for name in datasets.available():
            print(f"{name:<20} {datasets.info(name).description}")
        return 0
    if not args.name:
        raise ConfigError(f"`rnnkit datasets {args.action}` needs a dataset name, e.g. `rnnkit datasets {args.action} ptb`")
    entry = datasets.info(args.name)
    if args.action == "info":
        print(f"{entry.name}: {entry.description}")
        print(f"licence: {entry.license}")
        print(f"splits: {', '.join(entry.splits)}")
        print(f"cache: {datasets.cache_dir() / entry.name}")
        if entry.archive is not None:
            a = entry.archive.remote
            print(f"source: {a.url} ({a.size:,} bytes, sha256 {a.sha256}), unpacked into:")
        shown = entry.files if len(entry.files) <= 12 else entry.files[:10]
        for f in shown:
            print(f"  {f.name:<16} {f.size:>12,} bytes  sha256 {f.sha256}  {f.url}".rstrip())
        if len(shown) < len(entry.files):
            rest = entry.files[len(shown):]
            print(f"  ... and {len(rest):,} more files ({sum(f.size for f in rest):,} bytes)")
        return 0
    paths = datasets.fetch(args.name)
    for path in paths[:12]:
        print(path)
    if len(paths) > 12:
        print(f"... and {len(paths) - 12:,} more files in {paths[0].parent}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo(sub)
    add_textgen(sub)
    add_lm(sub)
    add_classify(sub)
    add_forecast(sub)
    data = sub.add_parser("datasets", help="list, describe or download the registered datasets")
    data.add_argument("action", choices=["list", "info", "fetch"])
    data.add_argument("name", nargs="?")
    data.set_defaults(func=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except RnnkitError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
