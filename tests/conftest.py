"""Test-suite settings shared by every test."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """Test tensors are tiny: one intra-op thread avoids OpenMP spin-waits (up to 10x faster on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
