"""Hostile dataset files, built in memory: each once cost a 500 or gigabytes of memory.

Shared by the loader's unit tests (tests/tfcore/test_data.py), the API's hostile-input
tests and the memory test against a running API.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def npz_declaring(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """An NPZ whose x.npy *declares* ``shape`` but holds no data: only its header."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header.getvalue())
        archive.writestr("y.npy", npy_bytes(np.zeros(10)))
    return buffer.getvalue()


def decompression_bomb(rows: int = 250_000, features: int = 1_000) -> bytes:
    """``rows`` by ``features`` float64 zeros: about 1.9 MB compressed, 2 GB inflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": (rows, features)}
            )
            zeros = bytes(8 * features * 1_000)
            for _ in range(rows // 1_000):
                member.write(zeros)
        archive.writestr("y.npy", npy_bytes(np.zeros(rows)))
    return buffer.getvalue()


def corrupted_npz() -> bytes:
    """A real NPZ with 64 bytes of its deflate stream zeroed."""
    good = bytearray(npz_bytes(x=np.random.default_rng(0).normal(size=(200, 4)), y=np.zeros(200)))
    start = good.index(b"x.npy") + 200  # inside x's compressed data
    good[start : start + 64] = bytes(64)
    return bytes(good)


def cr_only_csv() -> bytes:
    return ("a,b,y\r" + "".join(f"{i},{i},{i}\r" for i in range(20))).encode()


def huge_cell_csv() -> bytes:
    return ("a,y\n" + "1,2\n" * 10 + '"' + "9" * (200 << 10) + '",1\n').encode()


def wide_header_csv(columns: int = 1_000_000) -> bytes:
    return (",".join(f"column_{i}" for i in range(columns)) + "\n").encode()


def numeric_csv(megabytes: int, *, columns: int = 10, seed: int = 0) -> bytes:
    """A well-formed regression CSV of about ``megabytes`` MB (target column ``y``)."""
    rng = np.random.default_rng(seed)
    row_bytes = columns * 10  # "-0.123456," on average
    rows = (megabytes << 20) // row_bytes
    table = rng.normal(size=(rows, columns)).round(6)
    out = io.StringIO()
    out.write(",".join([f"x{i}" for i in range(columns - 1)] + ["y"]) + "\n")
    np.savetxt(out, table, delimiter=",", fmt="%.6f")
    return out.getvalue().encode()
