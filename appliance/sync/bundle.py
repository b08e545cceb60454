"""Bundles: a channel's reviewed sources as one tarball with a manifest.

Layout of ``bundle.tar.gz``::

    manifest.json        {"format", "channel", "version", "created", "files": [{"path", "sha256",
                          "size", "ids"}], "questions": [{"question", "title"}], "hit_rate"}
    files/<path>         every source file, as it was in the published folder

``ids`` are the document ids a file stored (a community's file overrides the street's file of the
same path or sharing an id); ``questions`` are every guide's own sample questions with the title
they must find, and ``hit_rate`` the share that found it first when published: a kiosk's build
must do as well.

Opening is hostile-input work: members are extracted by :mod:`models.safetar` (tarfile's ``data``
filter rules on every Python: no links, no devices, no paths out of the folder), within a member
count and a total size, and every file must match the manifest's size and sha256, with no file
missing and none extra.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from appliance.knowledge.files import find_files, read_regular_file
from models import safetar

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "BundleFile",
    "Limits",
    "Manifest",
    "Question",
    "collect",
    "open_bundle",
    "write_bundle",
]

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
FILES = "files"


class BundleError(RuntimeError):
    """A bundle that cannot be made or opened: the message says which file and why."""


@dataclass(frozen=True)
class Limits:
    """Size budget of a bundle.

    Attributes:
        max_files: files in it.
        max_file_bytes: one file.
        max_total_bytes: all files, unpacked.
    """

    max_files: int = 10_000
    max_file_bytes: int = 50 * 2**20
    max_total_bytes: int = 1024 * 2**20


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: its path inside the bundle (POSIX, relative), sha256, size in bytes,
    and the document ids it stored."""

    path: str
    sha256: str
    size: int
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    """A regression question: a guide's own sample question and the title it must find first."""

    question: str
    title: str


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds (see the module docstring)."""

    channel: str
    version: int
    created: str
    files: tuple[BundleFile, ...]
    questions: tuple[Question, ...] = ()
    hit_rate: float = 1.0
    format: int = BUNDLE_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest.

        Raises:
            BundleError: not a manifest of this format.
        """
        try:
            data = json.loads(text)
            if data.get("format") != BUNDLE_FORMAT:
                raise BundleError(f"bundle format {data.get('format')!r} is not {BUNDLE_FORMAT}")
            return cls(
                channel=str(data["channel"]),
                version=int(data["version"]),
                created=str(data["created"]),
                files=tuple(
                    BundleFile(str(f["path"]), str(f["sha256"]), int(f["size"]), tuple(f.get("ids", ())))
                    for f in data["files"]
                ),
                questions=tuple(Question(str(q["question"]), str(q["title"])) for q in data.get("questions", ())),
                hit_rate=float(data.get("hit_rate", 1.0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"bad manifest: {exc}") from exc

    @property
    def site_file(self) -> str | None:
        """The bundle's ``site.toml`` (at its top level), if it has one."""
        return "site.toml" if any(f.path == "site.toml" for f in self.files) else None


@dataclass
class Collected:
    """The files of a source folder: path inside the bundle -> absolute path; refused entries."""

    files: dict[str, Path] = field(default_factory=dict)
    refused: list[tuple[Path, str]] = field(default_factory=list)


def _safe_name(rel: str) -> bool:
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and all(part.strip() for part in p.parts)


def collect(src: Path, limits: Limits = Limits()) -> Collected:
    """Every regular file under ``src`` (hidden entries skipped, links not followed out of it).

    Raises:
        BundleError: ``src`` is not a folder, or it exceeds ``limits``.
    """
    if not src.is_dir():
        raise BundleError(f"{src} is not a folder")
    found = find_files([src], lambda p: True)
    out = Collected(refused=list(found.refused))
    total = 0
    root = src.resolve()
    for candidate in found.files:
        path = candidate.path
        rel = path.resolve().relative_to(root).as_posix() if path.resolve().is_relative_to(root) else path.name
        if not _safe_name(rel):
            out.refused.append((path, "a name a bundle cannot carry"))
            continue
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise BundleError(f"{rel}: {size} bytes, more than {limits.max_file_bytes}")
        total += size
        out.files[rel] = path
    if len(out.files) > limits.max_files:
        raise BundleError(f"{len(out.files)} files, more than {limits.max_files}")
    if total > limits.max_total_bytes:
        raise BundleError(f"{total} bytes in all, more than {limits.max_total_bytes}")
    return out


def write_bundle(
    out: Path,
    files: dict[str, Path],
    *,
    channel: str,
    version: int,
    ids: dict[str, Sequence[str]] | None = None,
    questions: Sequence[Question] = (),
    hit_rate: float = 1.0,
    limits: Limits = Limits(),
    created: str | None = None,
) -> Manifest:
    """Write ``files`` (path inside the bundle -> file) as a bundle at ``out``, reproducibly
    (sorted members, fixed owners, modes and times, a gzip header without a time stamp: the same
    sources, version and ``created`` give the same bytes, whoever builds them).

    Args:
        created: the manifest's time, UTC ISO 8601 (default: now).

    Returns:
        The manifest written.

    Raises:
        BundleError: a file cannot be read or exceeds the limits.
    """
    entries = []
    blobs: dict[str, bytes] = {}
    for rel in sorted(files):
        try:
            data = read_regular_file(files[rel], limits.max_file_bytes)
        except (OSError, ValueError) as exc:  # ReadError is a ValueError
            raise BundleError(f"{rel}: {exc}") from exc
        blobs[rel] = data
        entries.append(
            BundleFile(rel, hashlib.sha256(data).hexdigest(), len(data), tuple(sorted((ids or {}).get(rel, ()))))
        )
    created = created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest = Manifest(channel, version, created, tuple(entries), tuple(questions), hit_rate)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in [(MANIFEST, manifest.to_json().encode("utf-8"))] + [
            (f"{FILES}/{rel}", blobs[rel]) for rel in sorted(blobs)
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, 0, 0
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)
    return manifest


def open_bundle(tarball: Path, dest: Path, limits: Limits = Limits()) -> Manifest:
    """Extract a bundle into ``dest`` (created; must not exist) and check it against its manifest.

    Returns:
        The manifest; the files are under ``dest/files``.

    Raises:
        BundleError: not a bundle, a member that is not a plain file inside the folder, over the
            limits, or a file missing, extra, or with the wrong size or sha256.
    """
    dest.mkdir(parents=True)
    try:
        with tarfile.open(tarball, mode="r:gz") as tar:
            members = []
            total = 0
            for count, member in enumerate(tar, 1):
                if count > limits.max_files + 1:
                    raise BundleError(f"more than {limits.max_files} files")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BundleError(f"{member.name}: not a plain file")
                if member.size > max(limits.max_file_bytes, 2**20):
                    raise BundleError(f"{member.name}: {member.size} bytes, more than {limits.max_file_bytes}")
                total += member.size
                if total > limits.max_total_bytes:
                    raise BundleError(f"more than {limits.max_total_bytes} bytes unpacked")
                members.append(member)
            safetar.extract(tar, members, dest)
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise BundleError(f"{tarball.name}: not a readable bundle: {exc}") from exc
    manifest_path = dest / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{tarball.name}: no {MANIFEST}")
    manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
    root = dest / FILES
    want = {f.path: f for f in manifest.files}
    have = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    extra = sorted(have - set(want))
    if extra:
        raise BundleError(f"files not in the manifest: {', '.join(extra[:5])}")
    for rel, entry in want.items():
        path = root / rel
        if not _safe_name(rel) or not path.is_file():
            raise BundleError(f"{rel}: missing")
        data = path.read_bytes()
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise BundleError(f"{rel}: size or sha256 differs from the manifest")
    return manifest
