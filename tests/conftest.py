"""Test-suite settings shared by every test, and the fixtures several test folders use."""
import argparse
import io
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch


def pytest_sessionfinish(session, exitstatus):
    """``pytest -m slow`` (the second half of .ci/run) succeeds when no slow test is left to select.

    pytest exits with 5 when it selects no test; for the slow half that only means
    there is nothing slow to run, not that something failed.
    """
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.getoption("markexpr") == "slow":
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """Test tensors are tiny: one intra-op thread avoids OpenMP spin-waits (up to 10x faster on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _seeding_without_cuda_bookkeeping():
    """``torch.manual_seed`` seeds the CPU generator alone where there is no CUDA device.

    PyTorch's own also queues a lazy CUDA seeding, formatting the caller's whole stack each
    time (``torch.cuda._lazy_call``), even in a build without CUDA: about 2 ms per call in a
    test's deep stack, against a microsecond for the seeding itself, over thousands of calls
    (``rnnkit.set_seed`` included).  With a CUDA device the real one stays.
    """
    if torch.cuda.is_available():
        yield
        return
    original = torch.random.manual_seed

    def manual_seed(seed):
        return torch.default_generator.manual_seed(int(seed))

    torch.manual_seed = torch.random.manual_seed = manual_seed
    yield
    torch.manual_seed = torch.random.manual_seed = original


@pytest.fixture
def one_line_error(capsys):
    """``one_line_error(argv)`` runs the ``rnnkit`` command and checks how it fails; returns the message.

    A user error must exit with code 2 and print exactly one ``rnnkit: error: ...`` line, no traceback.
    """
    from rnnkit.cli import main

    def check(argv) -> str:
        code = main(list(argv))
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("rnnkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        return err

    return check


@pytest.fixture
def shared_data():
    """``shared_data(*names)`` returns the folder of real datasets that ``RNNKIT_DATA`` names.

    ``.ci/run`` sets the variable to the shared datasets, which are then also the
    dataset cache of every test that does not set its own.  The test is skipped,
    with a reason naming the variable, when it is unset or its folder lacks one of
    the datasets ``names``.
    """

    def find(*names: str) -> Path:
        root = os.environ.get("RNNKIT_DATA")
        if not root:
            pytest.skip("RNNKIT_DATA is not set; set it to the shared datasets folder (as .ci/run does) to run this test")
        missing = [name for name in names if not (Path(root) / name).is_dir()]
        if missing:
            pytest.skip(f"RNNKIT_DATA={root} has no {', '.join(missing)}; set it to the shared datasets folder")
        return Path(root)

    return find


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend; KERAS_BACKEND is put back as it was, so nothing else sees it changed."""
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        module = pytest.importorskip("keras", minversion="3.0",
                                     reason="keras 3 (the test-only reference) is not installed")
    finally:
        if before is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = before
    if module.backend.backend() != "torch":
        pytest.skip(f"keras was imported with the {module.backend.backend()!r} backend before this module set 'torch'")
    return module


@pytest.fixture(scope="session")
def start_chromium():
    """``start_chromium("1280,900")``: a headless Chromium (window width,height) under the system chromedriver, with
    its console and network logs kept; skips the test, with the reason, where selenium, Chromium or the driver is
    missing or the browser cannot start.  Selenium Manager is never let download a browser or a driver."""
    driver_path = os.environ.get("RNNKIT_CHROMEDRIVER", "/usr/bin/chromedriver")

    def start(window: str):
        webdriver = pytest.importorskip("selenium.webdriver",
                                        reason="selenium is not installed (pip install -e '.[test]')")
        binary = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
        if binary is None or not Path(driver_path).is_file():
            pytest.skip(f"no Chromium or no chromedriver at {driver_path}: install the system packages chromium and "
                        "chromium-driver (make test does where apt-get and root are available)")
        os.environ["SE_OFFLINE"] = "true"
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window}", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        try:
            return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
        except Exception as exc:  # a browser that cannot start here (no display libraries ...) is a reason to skip
            pytest.skip(f"Chromium did not start under chromedriver: {str(exc).splitlines()[0]}")

    return start


# ---------------------------------------------------------------- the `rnnkit` command (tests/cli): its commands as the
# parser knows them, and an in-process runner; here and not in tests/cli/conftest.py, whose module name would
# collide with this file's under --doctest-modules
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
    return dict(_leaves(_cli()._parser()))


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
                code = _cli().main(argv)
        except SystemExit as exc:
            code = exc.code
        finally:
            torch.set_num_threads(threads)
        return code, err.getvalue()

    return run


def _cli():
    from rnnkit import cli
    return cli
