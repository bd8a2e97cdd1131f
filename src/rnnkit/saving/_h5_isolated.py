"""An untrusted HDF5 file read in a child process: its groups, attributes and checked datasets as plain data.

The HDF5 library can loop forever or crash on a damaged file (a flipped byte in a global heap is enough to
make it spin while holding Python's lock, so no signal or thread can stop it).  :func:`read_tree`
therefore reads the whole file in a forked child, which is killed after a time limit, and returns a
mirror of it: :class:`Group` (attributes, members), :class:`Dataset` (its array, or why it was not read)
and :class:`Link` (a soft or external link, never followed).  Only hard links are walked; a dataset is
read only when its dtype is plain numbers, its data lives in the file, and its declared bytes (and those
of all datasets read so far) fit in the file's size; an attribute whose declared bytes do not fit refuses
the file.  Where ``os.fork`` does not exist (Windows) the file is read in this process.

>>> import io, h5py, numpy as np
>>> buffer = io.BytesIO()
>>> with h5py.File(buffer, "w") as f:
...     f.create_dataset("g/w", data=np.ones(3, dtype=np.float32)).attrs["unit"] = "m"
>>> root = read_tree(buffer.getvalue(), len(buffer.getvalue()), "w.h5")
>>> root["g"]["w"].data.tolist(), root["g"]["w"].attrs["unit"]
([1.0, 1.0, 1.0], 'm')
"""
from __future__ import annotations

import faulthandler
import gc
import io
import os
import pickle
import select
import signal
import time
import warnings
from typing import Any

import numpy as np

from ..errors import CheckpointError, gist

__all__ = ["Group", "Dataset", "Link", "read_tree", "TIMEOUT"]

#: seconds the child may take, plus one per 50 MB of file
TIMEOUT = 30.0
#: the most groups, datasets and links a file may hold
MAX_NODES = 100_000


class Group:
    """A group: ``name`` (its path), ``attrs`` (name -> value) and its members, by name in the file's order."""

    __slots__ = ("name", "attrs", "members")

    def __init__(self, name: str, attrs: dict) -> None:
        self.name, self.attrs, self.members = name, attrs, {}

    def __contains__(self, key: object) -> bool:
        return key in self.members

    def __getitem__(self, key: str) -> Any:
        return self.members[key]

    def __iter__(self) -> Any:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


class Dataset:
    """A dataset: ``name``, ``shape``, ``dtype``, ``attrs`` and ``data`` (None, with ``problem`` saying why)."""

    __slots__ = ("name", "shape", "dtype", "attrs", "data", "problem")

    def __init__(self, name: str, shape: tuple, dtype: np.dtype, attrs: dict, data: Any, problem: str | None) -> None:
        self.name, self.shape, self.dtype, self.attrs, self.data, self.problem = name, shape, dtype, attrs, data, problem


class Link:
    """A soft or external link (``kind`` names which): data elsewhere, never followed."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind


class _Refused(Exception):
    """What the child reports as a refusal of the file (not a failure of the library)."""


def _walk(target: Any, size: int) -> Group:
    import h5py

    budget = [size]  # bytes of dataset data that may still be read
    seen: dict[int, Any] = {}

    def attrs(obj: Any) -> dict:
        out = {}
        for name in obj.attrs:
            attr_id = obj.attrs.get_id(name)
            nbytes = int(np.prod(attr_id.shape or (), dtype=np.float64) * attr_id.dtype.itemsize)
            if nbytes > size:
                raise _Refused(f"the attribute {name!r} of {obj.name} declares shape {attr_id.shape} ({nbytes:,} bytes) "
                               f"in a file of {size:,} bytes")
            out[name] = obj.attrs[name]
        return out

    def dataset(obj: Any) -> Dataset:
        problem, data = None, None
        nbytes = int(np.prod(obj.shape or (), dtype=np.float64) * obj.dtype.itemsize)
        if obj.dtype.kind not in "fiub":
            problem = f"holds {obj.dtype} values, not numbers"
        elif obj.is_virtual or obj.external:
            problem = "takes its data from other files"
        elif nbytes > budget[0]:
            problem = f"declares shape {obj.shape} ({nbytes:,} bytes) in a file of {size:,} bytes"
        else:
            budget[0] -= nbytes
            data = np.asarray(obj[()])
        return Dataset(obj.name, tuple(obj.shape), obj.dtype, attrs(obj), data, problem)

    def group(obj: Any) -> Group:
        node = Group(obj.name, attrs(obj))
        for key in obj:
            if len(seen) > MAX_NODES:
                raise _Refused(f"it holds more than {MAX_NODES:,} groups and datasets")
            link = obj.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                node.members[key] = Link(f"{obj.name.rstrip('/')}/{key}", type(link).__name__)
                continue
            child = obj[key]
            ident = hash(child.id)
            if ident not in seen:  # a group reached twice (hard links may even make a cycle) is read once
                seen[ident] = None
                seen[ident] = group(child) if isinstance(child, h5py.Group) else dataset(child)
            node.members[key] = seen[ident]
        return node

    with h5py.File(io.BytesIO(target) if isinstance(target, bytes) else target, "r") as f:
        return group(f)


def _outcome(target: Any, size: int) -> tuple[str, Any]:
    try:
        return "ok", _walk(target, size)
    except _Refused as exc:
        return "refused", str(exc)
    except Exception as exc:  # what h5py raises on a damaged file: OSError, KeyError, RuntimeError, ValueError ...
        return "damaged", f"{type(exc).__name__}: {gist(exc)}"


def read_tree(target: str | bytes, size: int, source: str) -> Group:
    """The tree of the HDF5 file ``target`` (a path, or the file's bytes) of ``size`` bytes, read in a child.

    Raises CheckpointError (starting ``load_keras: <source>``) when the file is not readable HDF5, refused
    (see the module docstring), crashes the library, or takes longer than :data:`TIMEOUT`.
    """
    if not hasattr(os, "fork"):
        status, value = _outcome(target, size)
    else:
        status, value = _in_child(target, size, source, TIMEOUT + size / 50e6)
    if status == "refused":
        raise CheckpointError(f"load_keras: {source}: {value}; refused")
    if status != "ok":
        raise CheckpointError(f"load_keras: {source}: not a readable HDF5 file ({value})")
    return value


def _in_child(target: Any, size: int, source: str, timeout: float) -> tuple[str, Any]:
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # (Python 3.12 warns of fork in a process with threads: the child runs none of their code, only h5py's)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: read, send (a pickle of the mirror classes, numbers, str, bytes, arrays), exit
        try:
            gc.disable()  # a collection would touch (and so copy) every page of the parent's objects
            faulthandler.disable()  # a crash of the library is the parent's one-line error, not a stack dump
            os.close(read_end)
            try:
                payload = pickle.dumps(_outcome(target, size), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an attribute of a type that cannot be sent
                payload = pickle.dumps(("damaged", f"{type(exc).__name__}: {gist(exc)}"))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                return "damaged", f"the HDF5 library did not finish reading it in {timeout:.0f} s"
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and not chunks:
        return "damaged", f"the HDF5 library crashed reading it (signal {os.WTERMSIG(status)})"
    try:
        return _MirrorUnpickler(io.BytesIO(b"".join(chunks))).load()
    except Exception:
        return "damaged", "the HDF5 library crashed reading it"


class _MirrorUnpickler(pickle.Unpickler):
    """Unpickles what the child sends, and nothing else: the mirror classes, NumPy arrays, dtypes and scalars,
    bytes and str.  The child ran the HDF5 library on an untrusted file; were that library subverted, a pickle
    naming any other callable would run it here, so every global outside this list is refused."""

    ALLOWED = {(__name__, "Group"), (__name__, "Dataset"), (__name__, "Link"), ("builtins", "bytes"),
               ("builtins", "str"), ("builtins", "int"), ("builtins", "float"), ("builtins", "complex"),
               ("numpy", "dtype"), ("numpy", "ndarray")}
    NUMPY = ("numpy._core.multiarray", "numpy.core.multiarray", "numpy._core.numeric", "numpy.core.numeric")
    NUMPY_NAMES = {"_reconstruct", "_frombuffer", "scalar"}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED or (module in self.NUMPY and name in self.NUMPY_NAMES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of an HDF5 mirror")
