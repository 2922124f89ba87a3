#!/usr/bin/python3
"""A FUSE file system in memory whose fsync takes DELAY seconds: slow storage
for pressure-probe's tests (the storage verdict).

usage: slow_fsync_fs.py MOUNTPOINT DELAY

Runs in the foreground until unmounted. Needs python3-fusepy (libfuse2) and
root (or fusermount).
"""

import errno
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations


class SlowFsync(Operations):
    """Flat directory of in-memory files; only fsync is slow."""

    def __init__(self, delay):
        self.delay = delay
        self.files = {}

    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path in self.files:
            return {
                "st_mode": stat.S_IFREG | 0o644,
                "st_nlink": 1,
                "st_size": len(self.files[path]),
            }
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", ".."] + [name[1:] for name in self.files]

    def create(self, path, mode, fi=None):
        self.files[path] = b""
        return 0

    def open(self, path, flags):
        if path not in self.files:
            raise FuseOSError(errno.ENOENT)
        return 0

    def read(self, path, size, offset, fh):
        return self.files[path][offset : offset + size]

    def write(self, path, data, offset, fh):
        old = self.files[path]
        self.files[path] = old[:offset].ljust(offset, b"\0") + data + old[offset + len(data) :]
        return len(data)

    def truncate(self, path, length, fh=None):
        self.files[path] = self.files[path][:length].ljust(length, b"\0")

    def unlink(self, path):
        self.files.pop(path, None)

    def rename(self, old, new):
        self.files[new] = self.files.pop(old)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        time.sleep(self.delay)
        return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    FUSE(SlowFsync(float(sys.argv[2])), sys.argv[1], foreground=True, nothreads=True)
