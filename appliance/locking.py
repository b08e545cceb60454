"""Locks between processes: an ``flock`` on a lock file, through the ``filelock`` package.

The kernel releases an ``flock`` when its holder exits, even by a crash, so a lock file left
behind never blocks anyone. Run as root (``sudo kiosk staff unlock``, provisioning), a new lock
file is given the owner of its folder, so that the appliance's own user can still take it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


def _create_as_folder_owner(path: Path) -> None:
    """As root, create ``path`` owned by its folder's owner (no-op when it exists or not root)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or path.exists():
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return
    try:
        st = path.parent.stat()
        os.fchown(fd, st.st_uid, st.st_gid)
    finally:
        os.close(fd)


@contextmanager
def exclusive(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created, with its folder) for the block,
    waiting up to ``timeout_s`` seconds (negative: for ever) for another holder.

    Raises:
        filelock.Timeout: another process held it for ``timeout_s``.
        OSError: the lock file cannot be created or opened.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _create_as_folder_owner(path)
    lock = FileLock(str(path), timeout=timeout_s)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
