"""The compiled kernels build wherever a C compiler exists, for this CPU and for the other kind.

The kernels are compiled with ``-march=native``, so each kind of CPU runs its own
variant (rnn_loop.c picks its register block by instruction set).  On an x86-64
machine the suite also builds the AVX2 variant (``-march=x86-64-v3``) and runs the
kernel-against-reference tests on it in a child process: on an AVX-512 machine that
is the only way the AVX2 code path gets checked.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit._kernels as kernels
from kernel_support import require_kernel

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", ["rnn_loop", "minrnn"])
def test_kernel_builds_where_a_compiler_is_present(name):
    kernel = require_kernel(name)
    assert kernel.path.exists() and kernel.path.suffix == ".so"


@pytest.mark.slow  # builds the AVX2 variant of the C kernels (about 6 s); .ci/run's slow pass runs it
def test_avx2_variant_matches_the_reference():
    flags = set(kernels._cpu_flags().split())
    if platform.machine() not in ("x86_64", "AMD64") or not {"avx2", "fma", "bmi2"} <= flags:
        pytest.skip("the AVX2 variant (-march=x86-64-v3) needs an x86-64 CPU with AVX2, FMA and BMI2")
    if "avx512f" not in flags:
        pytest.skip("this CPU has no AVX-512: the native build is the AVX2 variant, which the other kernel tests check")
    require_kernel("rnn_loop")
    env = {**os.environ, "RNNKIT_KERNEL_MARCH": "x86-64-v3", "OMP_NUM_THREADS": "1"}  # built once into the usual cache, beside the native one
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           str(HERE / "test_compiled_kernel.py"), str(HERE / "test_min_rnn.py"), "-k", "f32 or fused"]
    proc = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
    assert "skipped" not in summary and "passed" in summary, summary
