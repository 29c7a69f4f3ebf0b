"""Random access to a file, a byte string, or a part of either, for the metadata readers.

Only headers and metadata blocks are ever read, never pixel data: a file is read in
small windows, and no block is read whole when its stated length is absurd.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Callable, Iterator, Optional

MAX_BLOCK = 64 << 20  # no metadata block is larger; a bigger length is corruption


class NotRegularFile(Exception):
    """A folder, FIFO or device where a photo was expected (the message says which)."""


class Corrupt(Exception):
    """A structure that cannot be followed; the message is the one-line warning."""


class Source:
    size: int

    def read(self, offset: int, n: int) -> bytes:
        raise NotImplementedError

    def u16(self, offset: int, order: str = ">") -> Optional[int]:
        data = self.read(offset, 2)
        return struct.unpack(order + "H", data)[0] if len(data) == 2 else None

    def u32(self, offset: int, order: str = ">") -> Optional[int]:
        data = self.read(offset, 4)
        return struct.unpack(order + "I", data)[0] if len(data) == 4 else None


class BytesSource(Source):
    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0:
            return b""
        return self.data[offset : offset + n]


class SourceView(Source):
    """Part of another source (an embedded JPEG inside a RAF file)."""

    def __init__(self, parent: Source, start: int, size: int):
        self.parent, self.start = parent, start
        self.size = max(0, min(size, parent.size - start))

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        return self.parent.read(self.start + offset, min(n, self.size - offset))


class FileSource(Source):
    """A read-only file read in windows: the first 64 KiB (where headers and most metadata
    live) in one system call, later small reads (chunk headers) 8 KiB at a time, so walking
    the chunks of a 25 MB PNG never reads its pixel data."""

    HEAD = 64 << 10
    WINDOW = 8 << 10

    def __init__(self, fd: int, size: int):
        self.fd, self.size = fd, size
        self._window_start, self._window = 0, b""

    @classmethod
    def open(cls, path: Path) -> "FileSource":
        # O_NONBLOCK: opening a FIFO that carries a photo's name must not hang the scan.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise NotRegularFile("it is a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, info.st_size)

    def __enter__(self) -> "FileSource":
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def _pread(self, offset: int, n: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self.fd, n, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)
        return os.read(self.fd, n)

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        n = min(n, self.size - offset, MAX_BLOCK)
        start = offset - self._window_start
        if 0 <= start and start + n <= len(self._window):
            return self._window[start : start + n]
        window = self.HEAD if offset < self.HEAD else self.WINDOW
        if n >= window:
            return self._pread(offset, n)
        self._window_start, self._window = offset, self._pread(offset, window)
        return self._window[:n]


def chunks(
    src: Source,
    pos: int,
    end: int,
    what: str,
    header: Callable[[bytes], tuple[bytes, int]],
    gap: Callable[[int], int],
) -> Iterator[tuple[bytes, int, int]]:
    """(kind, payload start, payload length) of the chunks of a PNG or RIFF file in [pos, end).

    `header` turns a chunk's 8 header bytes into (kind, length); `gap` says how many bytes
    follow a payload of that length (PNG's CRC, RIFF's padding). A chunk that runs past the
    end of the file raises Corrupt naming `what` (the format).
    """
    while pos + 8 <= end:
        kind, length = header(src.read(pos, 8))
        start = pos + 8
        if start + length > src.size:
            raise Corrupt(f"{what} is truncated inside its {kind.decode('latin-1')} chunk")
        yield kind, start, length
        pos = start + length + gap(length)
