"""Unpacking untrusted tar archives alike on every supported Python.

tarfile's ``data`` filter (:func:`tarfile.data_filter`, ``extractall(..., filter="data")``) came
with 3.12 and was backported to 3.11.4 and 3.10.12; older point releases, such as Debian 12's
3.11.2, lack it. :func:`check_member` applies the same rules either way, a little stricter:

* regular files and directories only: no symbolic or hard links, devices or FIFOs;
* no absolute name (the data filter would strip the leading ``/``; here it is refused), no
  ``..``, and nothing that resolves outside the destination;
* mode bits sanitised as the data filter does (no setuid/setgid/sticky bits, no write for
  group or others, owner read and write), and the archive's owner ignored.

:func:`extract` writes the checked members with the data filter where tarfile has it, else
itself (the same rules; files opened without following links). Size and count budgets stay with
the callers, which know what they unpack.
"""

from __future__ import annotations

import copy
import os
import tarfile
from collections.abc import Iterable
from pathlib import PurePosixPath

__all__ = ["UnsafeMember", "check_member", "extract", "has_data_filter"]


class UnsafeMember(tarfile.TarError):
    """A member the rules refuse; the message names it and says why."""


def has_data_filter() -> bool:
    """Whether this Python's tarfile has the ``data`` extraction filter (3.12, 3.11.4, 3.10.12)."""
    return hasattr(tarfile, "data_filter")


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    return "a FIFO" if member.isfifo() else "a special entry"


def _inside(dest: str, name: str) -> bool:
    target = os.path.realpath(os.path.join(dest, name))
    return os.path.commonpath([target, dest]) == dest


def _sanitised(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """A copy of ``member`` as the data filter leaves it: mode bits and owner."""
    clean = copy.copy(member)
    if member.isdir():
        clean.mode = None  # the default, as the data filter does
    else:
        mode = member.mode & 0o755
        if not mode & 0o100:
            mode &= ~0o111
        clean.mode = mode | 0o600
    clean.uid = clean.gid = clean.uname = clean.gname = None
    return clean


def check_member(member: tarfile.TarInfo, dest: str | os.PathLike[str]) -> tarfile.TarInfo:
    """The member as it may be extracted into ``dest`` (which need not exist yet).

    Raises:
        UnsafeMember: not a regular file or directory, an absolute name, ``..``, or a path that
            resolves outside ``dest``.
    """
    name = member.name
    if not (member.isreg() or member.isdir()):
        raise UnsafeMember(f"{name}: {_kind(member)}; only files and folders are unpacked")
    if not name:
        raise UnsafeMember("a member without a name")
    if name.startswith("/") or os.path.isabs(name):
        raise UnsafeMember(f"{name}: an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise UnsafeMember(f"{name}: a path with '..'")
    root = os.path.realpath(dest)
    if not _inside(root, name):
        raise UnsafeMember(f"{name}: resolves outside the folder it is unpacked into")
    if has_data_filter():
        try:
            return tarfile.data_filter(member, root)
        except tarfile.FilterError as exc:  # not reached after the checks above; kept as the backstop
            raise UnsafeMember(f"{name}: {exc}") from exc
    return _sanitised(member)


def extract(tar: tarfile.TarFile, members: Iterable[tarfile.TarInfo], dest: str | os.PathLike[str]) -> None:
    """Extract ``members`` of ``tar`` into the folder ``dest``, every one checked first.

    Raises:
        UnsafeMember: a member :func:`check_member` refuses (nothing is written then).
        OSError: writing failed.
    """
    members = list(members)
    checked = [check_member(m, dest) for m in members]
    if has_data_filter():
        tar.extractall(dest, members=members, filter="data")
        return
    root = os.path.realpath(dest)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for member, clean in zip(members, checked, strict=True):
        target = os.path.join(root, clean.name)
        if clean.isdir():
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not _inside(root, clean.name):  # a folder of an earlier member cannot be a link; checked again
            raise UnsafeMember(f"{clean.name}: resolves outside the folder it is unpacked into")
        if os.path.lexists(target):  # a later member of the same name replaces it, as tarfile does
            os.unlink(target)
        source = tar.extractfile(member)
        assert source is not None  # a regular file
        with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
            while block := source.read(1 << 20):
                out.write(block)
            os.fchmod(out.fileno(), clean.mode)
        os.utime(target, (clean.mtime, clean.mtime))
