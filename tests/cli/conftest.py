"""What the ``rnnkit`` command's tests share: its commands as the parser knows them, and an in-process runner."""
from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest
import torch

from rnnkit import cli


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or path == ("datasets",):  # `datasets list|info|fetch` is one command with a positional action
        yield " ".join(path), parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


@pytest.fixture(scope="session")
def cli_commands() -> dict[str, argparse.ArgumentParser]:
    """Every command of ``rnnkit`` (``"textgen train"``, ``"serve"``, ``"datasets"`` ...) -> its parser."""
    return dict(_leaves(cli._parser()))


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(argv)`` -> (exit code, standard error): ``rnnkit ARGV`` run in-process, its output captured.

    argparse's own exit (``--help``) gives its code; the models' thread count, which ``serve`` sets before it
    loads the runs, is put back.
    """
    def run(argv: list[str]) -> tuple[int, str]:
        err, threads = io.StringIO(), torch.get_num_threads()
        try:
            with redirect_stderr(err), redirect_stdout(io.StringIO()):
                code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        finally:
            torch.set_num_threads(threads)
        return code, err.getvalue()

    return run
