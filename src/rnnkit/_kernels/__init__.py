"""Loader of rnnkit's small C kernels: compiled at first use, cached, called through ctypes.

The kernels are plain C files next to this module (no torch headers), so any C
compiler builds one in about a second:

* ``minrnn_scan.c``: the fused time scan of minGRU/minLSTM (:func:`load_minrnn`);
* ``rnn_loop.c``: the loop over time of SimpleRNN/LSTM/GRU with the recurrent
  product, forward and backward (:func:`load_rnn_loop`).

One mechanism serves both (:func:`_load`): a library is compiled once per
machine into a cache directory (``$RNNKIT_KERNEL_CACHE``, by default
``~/.cache/rnnkit/kernels/``) under a name derived from a hash of the source,
the compiler command and the CPU flags line of ``/proc/cpuinfo`` — so a
library built with ``-march=native`` is never loaded on a CPU that lacks its
instructions.  The library is written to a temporary file and renamed into
place, so concurrent first uses cannot see a half-written file.

When there is no compiler, or compiling or loading fails, the ``load_*``
function returns None and the matching ``*_unavailable_reason`` says why;
callers fall back to pure PyTorch.

>>> lib = load_minrnn()
>>> lib is None or lib.abi_version == 1
True
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import torch

from .._io import atomic_path

__all__ = [
    "MinRNNKernel",
    "RNNLoopKernel",
    "load_minrnn",
    "minrnn_unavailable_reason",
    "load_rnn_loop",
    "rnn_loop_unavailable_reason",
    "kernel_cache_dir",
    "kernel_march",
    "cpu_level",
]

_ABI_VERSION = 1  # of minrnn_scan.c
_LOOP_ABI_VERSION = 1  # of rnn_loop.c
# library name -> its C source
_SOURCES: dict[str, Path] = {
    "minrnn": Path(__file__).with_name("minrnn_scan.c"),
    "rnn_loop": Path(__file__).with_name("rnn_loop.c"),
}
_lock = threading.Lock()
# library name -> {"kernel": bindings or None, "reason": why None}; absent until first tried
_state: dict[str, dict[str, Any]] = {}


def kernel_cache_dir() -> Path:
    """Where compiled kernels are kept: ``$RNNKIT_KERNEL_CACHE`` or ``~/.cache/rnnkit/kernels``."""
    env = os.environ.get("RNNKIT_KERNEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnkit" / "kernels"


def _cpu_flags() -> str:
    """The ``flags`` line of /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.strip()
    except OSError:
        pass
    return ""


def cpu_level() -> str:
    """This CPU's vector instruction-set level as the kernels and PyTorch see it, in words.

    ``'AVX-512 with bf16'``, ``'AVX-512'``, ``'AVX2'`` or ``'other'`` from the CPU's
    flags, then what is in force here when it differs: the ``-march`` the kernels
    are built for (:func:`kernel_march`), PyTorch's own kernel level and whether
    oneDNN computes bfloat16 natively (environment variables such as
    ``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA`` can lower them).

    >>> isinstance(cpu_level(), str)
    True
    """
    flags = set(_cpu_flags().split())
    if "avx512f" in flags:
        level = "AVX-512 with bf16" if "avx512_bf16" in flags else "AVX-512"
    elif "avx2" in flags:
        level = "AVX2"
    else:
        level = "other"
    notes = []
    if kernel_march() != "native":
        notes.append(f"kernels -march={kernel_march()}")
    try:
        notes.append(f"torch {torch.backends.cpu.get_cpu_capability()}")
    except AttributeError:
        pass
    try:
        notes.append(f"oneDNN bf16 {'yes' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'}")
    except (AttributeError, RuntimeError):
        pass
    return f"{level} ({', '.join(notes)})" if notes else level


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def kernel_march() -> str:
    """The ``-march`` the kernels are built for: ``$RNNKIT_KERNEL_MARCH``, by default ``native``.

    ``native`` builds for this CPU (AVX-512 where it has it, AVX2 where not);
    ``x86-64-v3`` on an AVX-512 machine builds the AVX2 variant, to see how
    the kernels behave on the other kind of CPU.
    """
    march = os.environ.get("RNNKIT_KERNEL_MARCH", "native").strip() or "native"
    if not all(ch.isalnum() or ch in "-_." for ch in march):
        raise RuntimeError(f"RNNKIT_KERNEL_MARCH={march!r} is not a -march value (e.g. native, x86-64-v3)")
    return march


def _compile_command(compiler: str, source: Path, output: Path) -> list[str]:
    # -fno-trapping-math: the kernels never enable floating-point exceptions, and without
    # it GCC will not turn `x < lo ? a : b` on floats into a vector blend on AVX2 (AVX-512's
    # mask registers hide the problem): the scan loops stayed scalar there, 3x slower.
    # It changes no result, only what the vectoriser may assume.
    return [compiler, "-O3", f"-march={kernel_march()}", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC",
            str(source), "-o", str(output), "-lm"]


def _build(source: Path) -> Path:
    """Compile ``source`` into the cache (if not there yet) and return the library's path."""
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (looked for $CC, cc, gcc, clang)")
    cache = kernel_cache_dir()
    # the source and the headers it may include from its folder
    text = b"\0".join(p.read_bytes() for p in [source, *sorted(source.parent.glob("*.h"))])
    probe = _compile_command(compiler, source, Path("OUT"))
    key = hashlib.sha256(b"\0".join([text, " ".join(probe).encode(), _cpu_flags().encode()])).hexdigest()[:20]
    target = cache / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # atomic: other processes see no library or the whole one, never a half-written .so
    with atomic_path(target, suffix=".so.tmp") as tmp:
        proc = subprocess.run(
            _compile_command(compiler, source, Path(tmp)), capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(f"compiling {source.name} failed: {' | '.join(detail[-3:])}")
    return target


class MinRNNKernel:
    """ctypes bindings of ``minrnn_scan.c``: its float32 and float64 entry points by dtype.

    ``forward[dtype]`` and ``backward[dtype]`` are the C functions
    ``rk_minrnn_forward_f32`` etc. (arguments documented in the C file; tensors
    are passed as ``tensor.data_ptr()``, shapes as ints); :meth:`empty` allocates
    a large buffer with huge pages.  Used by :mod:`rnnkit.layers.min_rnn`.

    Args:
        path: the compiled shared library.

    Example:
        >>> import torch
        >>> kernel = load_minrnn()
        >>> kernel is None or sorted(str(d) for d in kernel.forward) == ['torch.float32', 'torch.float64']
        True
    """

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        self.path = path
        self.abi_version = int(lib.rk_minrnn_abi_version())
        if self.abi_version != _ABI_VERSION:
            raise RuntimeError(f"{path.name} has ABI version {self.abi_version}, expected {_ABI_VERSION}")
        p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        self.forward: dict[torch.dtype, Any] = {}
        self.backward: dict[torch.dtype, Any] = {}
        for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
            fwd = getattr(lib, f"rk_minrnn_forward_{suffix}")
            fwd.argtypes = [i32, i64, i64, i64, p, p, p, i32, p, p, p, i32]
            fwd.restype = i32
            bwd = getattr(lib, f"rk_minrnn_backward_{suffix}")
            bwd.argtypes = [i32, i64, i64, i64, p, p, p, p, i32, p, i64, i64, i64, p, p, p, p, i32]
            bwd.restype = i32
            self.forward[dtype], self.backward[dtype] = fwd, bwd
        self._advise = lib.rk_advise_hugepages
        self._advise.argtypes = [p, i64]
        self._advise.restype = i32

    def empty(self, *shape: int, dtype: torch.dtype) -> torch.Tensor:
        """``torch.empty`` for a large buffer that is written next: asks for huge pages first."""
        out = torch.empty(*shape, dtype=dtype)
        nbytes = out.numel() * out.element_size()
        if nbytes >= (8 << 20):
            self._advise(out.data_ptr(), nbytes)
        return out


class RNNLoopKernel:
    """ctypes bindings of ``rnn_loop.c``: the forward and backward loops by dtype.

    ``forward[dtype]`` and ``backward[dtype]`` are ``rk_rnn_forward_f32`` etc.,
    the whole loop (arguments documented in the C file; tensors passed as
    ``data_ptr()`` or None, shapes as ints).  Used
    by :mod:`rnnkit.layers._compiled`.

    Args:
        path: the compiled shared library.
    """

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        self.path = path
        self.abi_version = int(lib.rk_rnn_abi_version())
        if self.abi_version != _LOOP_ABI_VERSION:
            raise RuntimeError(f"{path.name} has ABI version {self.abi_version}, expected {_LOOP_ABI_VERSION}")
        p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        self.forward: dict[torch.dtype, Any] = {}
        self.backward: dict[torch.dtype, Any] = {}
        for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
            fwd = getattr(lib, f"rk_rnn_forward_{suffix}")
            # kind, T, B, U, xp, w, b_hn, rmask, mask, act, rec_act, Hs, Cs, A, E, HR, work, saved, threads
            fwd.argtypes = [i32, i64, i64, i64, p, p, p, p, p, i32, i32, p, p, p, p, p, p, i32, i32]
            fwd.restype = i32
            bwd = getattr(lib, f"rk_rnn_backward_{suffix}")
            # kind, T, B, U, w, rmask, mask, act, rec_act, Hs, Cs, A, E, HR, dH, dh, dc, dZ, dP, work, threads
            bwd.argtypes = [i32, i64, i64, i64, p, p, p, i32, i32, p, p, p, p, p, p, p, p, p, p, p, i32]
            bwd.restype = i32
            self.forward[dtype], self.backward[dtype] = fwd, bwd


def _load(name: str, bindings: Callable[[Path], Any]) -> Any:
    """Library ``name`` of :data:`_SOURCES`, built and bound by ``bindings`` on first use; None when unavailable."""
    entry = _state.get(name)
    if entry is not None:
        return entry["kernel"]
    with _lock:
        entry = _state.get(name)
        if entry is None:
            try:
                if not sys.platform.startswith("linux") and not sys.platform == "darwin":
                    raise RuntimeError(f"the C kernels are built on Linux and macOS only, not {sys.platform}")
                entry = {"kernel": bindings(_build(_SOURCES[name])), "reason": None}
            except Exception as exc:  # no compiler, failed build, failed load: all mean "use PyTorch"
                entry = {"kernel": None, "reason": f"{type(exc).__name__}: {exc}"}
            _state[name] = entry
    return entry["kernel"]


def _reason(name: str) -> str | None:
    entry = _state.get(name)
    return None if entry is None else entry["reason"]


def load_minrnn() -> MinRNNKernel | None:
    """The minGRU/minLSTM scan kernel, compiled on first use; None when unavailable."""
    return _load("minrnn", MinRNNKernel)


def minrnn_unavailable_reason() -> str | None:
    """Why :func:`load_minrnn` returned None (None if it loaded, or was not tried yet)."""
    return _reason("minrnn")


def load_rnn_loop() -> RNNLoopKernel | None:
    """The SimpleRNN/LSTM/GRU loop kernel, compiled on first use; None when unavailable."""
    return _load("rnn_loop", RNNLoopKernel)


def rnn_loop_unavailable_reason() -> str | None:
    """Why :func:`load_rnn_loop` returned None (None if it loaded, or was not tried yet)."""
    return _reason("rnn_loop")
