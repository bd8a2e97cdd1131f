"""The ``rnnkit`` command: parsing and messages only; the work is in :mod:`rnnkit.apps`.

Every app command is generated from the app's declaration (:func:`rnnkit.apps.apps`):
its options from the fields of the command's config dataclass
(:func:`rnnkit.apps.framework.add_options`), checked in the flags' vocabulary.
User errors (any :class:`rnnkit.errors.RnnkitError`, and a command line argparse
refuses) print one line and exit with code 2.  ``rnnkit report``, ``rnnkit export`` and ``rnnkit serve``
are declared the same way, by :data:`rnnkit.report.APP`, :data:`rnnkit.export.APP` and :data:`rnnkit.serve.APP`.
"""
from __future__ import annotations

import argparse
import os
import sys

from .. import datasets, export, report, serve
from ..apps import apps
from ..apps.framework import App, Command, add_options, cli_vocabulary, options_from_args
from ..errors import ConfigError, RnnkitError, one_line

__all__ = ["main"]


def _datasets(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.name:
            raise ConfigError(f"`rnnkit datasets list` takes no dataset name, got {args.name!r}; "
                              f"describe one with `rnnkit datasets info {args.name}`")
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


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose refusals are one-line errors (exit code 2, as every user error).

    Options are matched whole: an abbreviation (``--text`` for ``--text-column``) is refused
    instead of silently taken for an option the user may not have meant.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def _run(command: Command, args: argparse.Namespace) -> int:
    with cli_vocabulary():
        options = command.options(**options_from_args(command.options, args, command.defaults))
        nproc = getattr(options, "nproc", 1)
        if nproc > 1 and "WORLD_SIZE" not in os.environ:  # checked here, then trained in nproc processes
            batch = getattr(options, "batch_size", None)
            if isinstance(batch, int) and batch % nproc:
                raise ConfigError(f"--batch-size {batch} is the global batch and must divide among the {nproc} "
                                  f"processes of --nproc {nproc}; use a multiple of {nproc}")
            from ..training.distributed import launch
            return launch(nproc, ["rnnkit.cli", *args.argv])
        flags = dict(command.quiet or {}) if getattr(args, "quiet", False) else {}
        if command.resumable:
            flags["resume"] = args.resume
        command.run(options, **flags)
    return 0


def _add_command(parser: argparse.ArgumentParser, command: Command) -> None:
    add_options(parser, command.options, command.defaults)
    if command.resumable:
        parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    if command.quiet is not None:
        parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=lambda args, command=command: _run(command, args), command_prog=parser.prog)


def _add_app(sub: argparse._SubParsersAction, app: App) -> None:
    if len(app.commands) == 1 and app.commands[0].name is None:  # `rnnkit demo`: the app is the command
        _add_command(sub.add_parser(app.name, help=app.help, description=app.commands[0].description), app.commands[0])
        return
    actions = sub.add_parser(app.name, help=app.help).add_subparsers(dest="action", required=True)
    for command in app.commands:
        _add_command(actions.add_parser(command.name, help=command.help, description=command.description), command)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    for app in apps():
        _add_app(sub, app)
    _add_app(sub, report.APP)
    _add_app(sub, export.APP)
    _add_app(sub, serve.APP)
    data = sub.add_parser("datasets", help="list, describe or download the registered datasets")
    data.add_argument("action", choices=["list", "info", "fetch"])
    data.add_argument("name", nargs="?")
    data.set_defaults(func=_datasets, command_prog=data.prog)
    return parser


def _say(line: str) -> None:
    """``line`` on stderr in one write: the ranks of an ``--nproc`` run share the stream, and ``print`` writes the
    text and its newline apart (stderr writes through), so two ranks' lines could run together."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args, unknown = _parser().parse_known_args(argv)
        if unknown:  # named with the help of the command they were given to, not the top one's
            raise ConfigError(f"unrecognized arguments: {' '.join(unknown)} (see `{args.command_prog} --help`)")
        args.argv = argv
        return args.func(args)
    except RnnkitError as exc:
        rank = os.environ.get("RANK") if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else None
        _say(f"rnnkit{f' (rank {rank})' if rank is not None else ''}: error: {one_line(str(exc))}")
        return 2
    except KeyboardInterrupt:
        _say("rnnkit: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
