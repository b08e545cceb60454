"""Which files an ingest may open, and opening them: inside the folder named, regular files only.

A folder handed to ``kiosk kb ingest`` (a USB stick, a shared drive) is untrusted. Nothing in it
may make the kiosk read outside it, and no entry may make it hang:

* a symbolic link is never followed out of the folder: one whose target is outside is refused and
  reported; one whose target is inside is passed over (the target is found in its own right);
* a hard link is a second name of the same file: a file whose link count is higher than the number
  of names it has inside the folder also has a name outside, and is refused;
* only regular files are opened, checked with ``lstat`` first and ``fstat`` on the open
  descriptor after (same inode), opened with ``O_NOFOLLOW | O_NONBLOCK``: a FIFO, a device or a
  socket is refused without being opened, and a file swapped for a link in between is refused;
* a file is read up to its size cap and no further.

A file named on the command line is confined to its own folder the same way.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.knowledge.limits import ReadError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular_file(path: Path, max_bytes: int, *, max_links: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link to one) of at most ``max_bytes``.

    Args:
        max_links: refuse the file when it has more hard links than this (None: any number).

    Raises:
        ReadError: a symbolic link, a FIFO, socket or device, a hard link over ``max_links``, a
            file larger than ``max_bytes``, or one replaced while it was being opened.
        OSError: the file does not exist or cannot be read (``FileNotFoundError`` when missing).
    """
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode):
        what = _kind(before.st_mode)
        raise ReadError(
            f"{what}, not a regular file; not read" if what != "a symbolic link" else f"{what}; not followed"
        )
    if max_links is not None and before.st_nlink > max_links:
        raise ReadError(
            f"hard link: the file has {before.st_nlink} names, only {max_links} of them in the folder; "
            "not read (copy the file instead of linking it)"
        )
    _check_size(before.st_size, max_bytes)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise ReadError("a symbolic link; not followed") from exc
        raise
    with os.fdopen(fd, "rb", buffering=0) as fh:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise ReadError("the file changed while it was being opened; not read")
        _check_size(now.st_size, max_bytes)
        chunks = [fh.read(now.st_size + 1)]  # the whole file in one piece, no copy
        total = len(chunks[0])
        while total <= max_bytes and (block := fh.read(min(1 << 20, max_bytes + 1 - total))):
            chunks.append(block)  # it grew since fstat
            total += len(block)
    _check_size(total, max_bytes)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ReadError(f"file too large: {size / 2**20:.1f} MiB (limit {max_bytes / 2**20:.0f} MiB)")


@dataclass
class Folder:
    """A folder named for ingest (or the folder of a file named on its own): what may be read in it.

    Attributes:
        root: the folder, resolved.
        names: for files with more than one hard link, (st_dev, st_ino) -> how many of their names
            were found inside ``root``.
    """

    root: Path
    names: Counter[tuple[int, int]] = field(default_factory=Counter)

    def read(self, path: Path, max_bytes: int) -> bytes:
        """The bytes of regular file ``path`` inside this folder (see :func:`read_regular_file`).

        Raises:
            ReadError: outside the folder, a link, not a regular file, with names outside the
                folder, too large.
            OSError: missing or unreadable.
        """
        if not located(path).is_relative_to(self.root):
            raise ReadError(f"outside the folder {self.root}; not read")
        try:
            st = os.lstat(path)
        except OSError:
            st = None
        allowed = max(1, self.names.get((st.st_dev, st.st_ino), 0)) if st is not None else 1
        return read_regular_file(path, max_bytes, max_links=allowed)


def located(path: Path) -> Path:
    """``path`` with its folders resolved and its last component as it is (a link stays a link)."""
    return Path(os.path.realpath(path.parent)) / path.name


@dataclass(frozen=True)
class Candidate:
    """A file found for ingest: its path (as found, not resolved through links) and its folder."""

    path: Path
    folder: Folder


@dataclass
class Found:
    """What :func:`find_files` found: files to read, and entries refused with their reasons."""

    files: list[Candidate] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)


def find_files(paths: Iterable[Path], supported: Callable[[Path], bool]) -> Found:
    """Expand ``paths`` (folders recursively, hidden entries skipped) into supported regular files.

    Links inside a folder are never followed (see the module docstring). A path named here that is
    itself a symbolic link is followed only to a target in the folder the link is in. A supported
    name that is not a regular file, a link out of its folder and a file with names outside its
    folder are refused. Files are sorted per folder and listed once.

    Args:
        supported: whether a file name is an ingest candidate (unsupported files inside folders are
            passed over silently).

    Returns:
        The candidates and the refusals. A named path that does not exist, or an unsupported file
        named explicitly, is the caller's to report (it is in neither list).
    """
    found = Found()
    seen: set[Path] = set()
    for path in paths:
        if path.is_symlink():
            target, parent = Path(os.path.realpath(path)), Path(os.path.realpath(path.parent))
            if not target.is_relative_to(parent):
                found.refused.append(
                    (path, f"symbolic link to {target}, outside {parent}; not followed (name its target instead)")
                )
                continue
            path = target
        if not path.is_dir():
            _named_file(path, supported, found, seen)
            continue
        folder = Folder(Path(os.path.realpath(path)))
        files: list[Path] = []
        _walk(path, folder, supported, files, found)
        for p in sorted(files):
            key = located(p)
            if key in seen:
                continue
            seen.add(key)
            st = os.lstat(p)
            inside = folder.names.get((st.st_dev, st.st_ino), 1)
            if st.st_nlink > inside:
                found.refused.append((p, _hardlink_reason(st.st_nlink, inside, folder.root)))
            else:
                found.files.append(Candidate(p, folder))
    return found


def _hardlink_reason(links: int, inside: int, root: Path) -> str:
    return (
        f"hard link: the file has {links} names, {links - inside} of them outside {root}; "
        "not read (copy the file instead of linking it)"
    )


def _walk(top: Path, folder: Folder, supported: Callable[[Path], bool], files: list[Path], found: Found) -> None:
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            found.refused.append((current, f"cannot list the folder: {exc.strerror or exc}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                target = os.path.realpath(path)
                if not Path(target).is_relative_to(folder.root) and (supported(path) or os.path.isdir(target)):
                    what = "a folder" if os.path.isdir(target) else "a file"
                    found.refused.append(
                        (path, f"symbolic link to {what} outside {folder.root} ({target}); not followed")
                    )
                continue  # a link inside the folder: its target is found in its own right
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                found.refused.append((path, f"cannot read it: {exc.strerror or exc}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    folder.names[(st.st_dev, st.st_ino)] += 1
                if supported(path):
                    files.append(path)
            elif supported(path):
                found.refused.append((path, f"{_kind(st.st_mode)}, not a regular file; not read"))


def _named_file(path: Path, supported: Callable[[Path], bool], found: Found, seen: set[Path]) -> None:
    """A file named on the command line (not a link): confined to its own folder."""
    try:
        st = os.lstat(path)
    except OSError:
        return  # missing: the caller reports it
    if not stat.S_ISREG(st.st_mode):
        if supported(path):
            found.refused.append((path, f"{_kind(st.st_mode)}, not a regular file; not read"))
        return
    key = located(path)
    if not supported(path) or key in seen:
        return
    seen.add(key)
    folder = Folder(key.parent)
    if st.st_nlink > 1:  # count its names in its own folder
        with os.scandir(key.parent) as entries:
            for entry in entries:
                if entry.inode() == st.st_ino and entry.is_file(follow_symlinks=False):
                    folder.names[(st.st_dev, st.st_ino)] += 1
        inside = folder.names[(st.st_dev, st.st_ino)]
        if st.st_nlink > inside:
            found.refused.append((path, _hardlink_reason(st.st_nlink, inside, folder.root)))
            return
    found.files.append(Candidate(path, folder))
