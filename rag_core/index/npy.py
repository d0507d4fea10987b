"""Reading the ``.npy`` files of an index without :mod:`ast`.

numpy parses an ``.npy`` header with ``ast.literal_eval``. On CPython 3.11 the AST
constructor counts its depth in state that every thread shares (python/cpython gh-106905):
when a garbage collection runs a finaliser in the middle of one thread's parse and another
thread parses meanwhile, one of them fails with ``SystemError: AST constructor recursion
depth mismatch``. Folio loads segments on background threads (merges, snapshots) while
other threads work, and a merge failed that way. So the headers Folio writes (numpy's own
``np.save`` format: ``{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }``) are
read here with a regular expression; a header in any other form goes to numpy, one thread
at a time.
"""

from __future__ import annotations

import re
import struct
import threading
from pathlib import Path
from typing import Literal

import numpy as np

_MAGIC = b"\x93NUMPY"
_LENGTH = {1: "<H", 2: "<I", 3: "<I"}
_HEADER = re.compile(
    r"\{'descr': '([<>|=][a-zA-Z]\d*)', 'fortran_order': (True|False), "
    r"'shape': \(((?:\d+, )*\d+,?|)\), \}\s*"
)
_NUMPY = threading.Lock()


def _header(path: Path) -> tuple[np.dtype, tuple[int, ...], bool, int] | None:
    """dtype, shape, Fortran order and data offset; None when numpy must read it."""
    with open(path, "rb") as fp:
        start = fp.read(8)
        if len(start) < 8 or start[:6] != _MAGIC or start[6] not in _LENGTH:
            return None
        kind = _LENGTH[start[6]]
        size = struct.calcsize(kind)
        raw = fp.read(size)
        if len(raw) < size:
            return None
        text = fp.read(struct.unpack(kind, raw)[0]).decode("latin1")
    found = _HEADER.fullmatch(text)
    if found is None:
        return None
    descr, fortran, dims = found.groups()
    shape = tuple(int(d) for d in dims.split(",") if d.strip())
    return np.dtype(descr), shape, fortran == "True", 8 + size + len(text)


def load(path: Path, *, mmap: bool = False) -> np.ndarray:
    """``np.load(path)``, or ``np.load(path, mmap_mode="r")`` when ``mmap``, without ast."""
    header = _header(path)
    if header is None:
        with _NUMPY:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    dtype, shape, fortran, offset = header
    order: Literal["C", "F"] = "F" if fortran else "C"
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", shape=shape, order=order, offset=offset)
    count = int(np.prod(shape, dtype=np.int64))
    with open(path, "rb") as fp:
        fp.seek(offset)
        data = np.fromfile(fp, dtype=dtype, count=count)
    if data.size != count:
        raise ValueError(f"{path}: {data.size} of {count} values; the file is cut short")
    return data.reshape(shape, order=order)
