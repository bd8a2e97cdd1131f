"""The ``rnnkit`` command: parsing and messages only; the work is in :mod:`rnnkit.apps`.

User errors (any :class:`rnnkit.errors.RnnkitError`) print one line and exit with code 2.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import RnnkitError

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from ..apps.demo import DemoConfig, run

    run(DemoConfig(seconds=args.seconds, seed=args.seed))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small LSTM on generated sine waves (no data needed)")
    demo.add_argument("--seconds", type=float, default=20.0, help="training time budget (default 20)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
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
