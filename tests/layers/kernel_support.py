"""For the layer tests: the rule for tests that need a compiled C kernel (imported as `kernel_support`).

Such a test skips, with the reason, only where no C compiler exists.  Where one
exists, a kernel that fails to build or load fails the test: a broken kernel must
never pass the suite as a row of skips while everything runs on the fallback.
"""
from __future__ import annotations

import pytest

import rnnkit._kernels as kernels

_LOADERS = {
    "rnn_loop": (kernels.load_rnn_loop, kernels.rnn_loop_unavailable_reason),
    "minrnn": (kernels.load_minrnn, kernels.minrnn_unavailable_reason),
}


def require_kernel(name: str):
    """The compiled kernel ``name`` ('rnn_loop' or 'minrnn'); skips without a C compiler, fails when the build failed."""
    load, reason = _LOADERS[name]
    if kernels._compiler() is None:
        pytest.skip(f"no C compiler here, so the {name} kernel is not built and its fallback runs")
    kernel = load()
    if kernel is None:
        pytest.fail(f"a C compiler is present but the {name} kernel is unavailable: {reason()}", pytrace=False)
    return kernel
