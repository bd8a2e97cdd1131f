"""Fixtures of the hostile-input tests: every test runs with its address space bounded, so that a loader
that allocates what a header claims fails there (MemoryError) instead of taking the machine's memory; the
thousands of files the cases write go to memory (``/dev/shm``) where the machine has it."""
import shutil
import tempfile
from pathlib import Path

import pytest

from fuzz_support import limited_memory


@pytest.fixture(autouse=True)
def _bounded_memory():
    with limited_memory(2 << 30):
        yield


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    """A folder for the cases' files: in /dev/shm (a tmpfs) when it is there, else pytest's temporary folder."""
    shm = Path("/dev/shm")
    try:
        folder = Path(tempfile.mkdtemp(prefix="rnnkit-fuzz-", dir=shm))
    except OSError:
        yield tmp_path_factory.mktemp("fuzz")
        return
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
