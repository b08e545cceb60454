"""Installed models: one folder per model under ``MODELS_DIR``, each with a ``manifest.json``.

A model counts as installed only when its manifest exists and every file it lists is present with
the recorded size; the manifest is written last, after every file has been verified and moved into
place, so an interrupted install never looks installed.

Manifest: ``{"name", "role", "main", "source", "installed_at", "catalog": bool, "license",
"files": [{"name", "size", "sha256"}]}``. Models from an archive that are not in the catalogue
(a site's own model, the tiny test models) carry their entry in the archive and are marked
``"catalog": false``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

from models.catalog import Catalog, CatalogError, ModelEntry

MANIFEST = "manifest.json"


class ModelError(RuntimeError):
    """A model that cannot be installed, verified or loaded; the message says what to run."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class InstalledModel:
    """A model ready to load.

    Attributes:
        path: the model's folder (for folder models such as faster-whisper).
        main_path: the file the runtime loads, None for folder models.
    """

    name: str
    role: str
    path: Path
    main_path: Path | None
    license: str
    source: str


@dataclass(frozen=True)
class ModelStatus:
    """What ``kiosk models list`` shows for one model.

    Attributes:
        state: 'installed', 'missing', 'incomplete' (files missing or the wrong size), or
            'unavailable' (a package model whose package is not installed).
    """

    name: str
    role: str
    state: str
    detail: str = ""


class ModelStore:
    """The models folder of one appliance.

    Args:
        root: ``settings.models_path``.
        catalog: the catalogue (default: the shipped one).
    """

    def __init__(self, root: Path, catalog: Catalog | None = None):
        self.root = root
        self.catalog = catalog or Catalog.load()

    def folder(self, name: str) -> Path:
        """Where model ``name`` is (or would be) installed: a folder directly under the store.

        Raises:
            ModelError: a name that is not one plain folder name (empty, ``.``, ``..``, a ``/`` or
                a NUL), which could point the store's writes and removals elsewhere.
        """
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ModelError(f"{name!r} is not a model name (one folder name, no '/' or '..')")
        return self.root / name

    def _manifest(self, name: str) -> dict | None:
        path = self.folder(name) / MANIFEST
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def installed(self, name: str) -> InstalledModel | None:
        """The installed model ``name`` if it is complete, else None."""
        entry = self.catalog.models.get(name)
        if entry is not None and entry.package:
            return self._package_model(entry)
        manifest = self._manifest(name)
        if manifest is None:
            return None
        folder = self.folder(name)
        for f in manifest.get("files", []):
            p = folder / f["name"]
            if not p.is_file() or (f.get("size") is not None and p.stat().st_size != f["size"]):
                return None
        main = manifest.get("main")
        return InstalledModel(
            name=name,
            role=manifest.get("role", entry.role if entry else "unknown"),
            path=folder,
            main_path=folder / main if main else None,
            license=manifest.get("license", ""),
            source=manifest.get("source", ""),
        )

    def _package_model(self, entry: ModelEntry) -> InstalledModel | None:
        spec = importlib_util.find_spec(entry.package) if entry.package else None
        if spec is None or not spec.submodule_search_locations:
            return None
        base = Path(next(iter(spec.submodule_search_locations)))
        main = base / (entry.main or entry.files[0].path)
        if not main.is_file():
            return None
        return InstalledModel(entry.name, entry.role, main.parent, main, entry.license, f"package:{entry.package}")

    def status(self, name: str) -> ModelStatus:
        """Installed, missing or incomplete, with a short detail."""
        entry = self.catalog.models.get(name)
        manifest = self._manifest(name)
        role = entry.role if entry else (manifest or {}).get("role", "unknown")
        if entry is not None and entry.package:
            if self._package_model(entry):
                return ModelStatus(name, role, "installed", f"inside the {entry.package} package")
            return ModelStatus(name, role, "unavailable", f"ships with the {entry.package} Python package")
        if manifest is None:
            return ModelStatus(name, role, "missing")
        if self.installed(name) is None:
            return ModelStatus(name, role, "incomplete", "files missing or the wrong size; pull or import again")
        return ModelStatus(name, role, "installed", manifest.get("source", ""))

    def local_models(self) -> list[str]:
        """Installed models that are not in the catalogue (from archives)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and (p / MANIFEST).is_file() and p.name not in self.catalog.models
        )

    def install(
        self, entry: ModelEntry, staged: dict[str, Path], source: str, *, catalog: bool = True
    ) -> InstalledModel:
        """Verify staged files against ``entry`` and move them into place, manifest last.

        Args:
            staged: installed file name -> path of the downloaded or extracted file.
            source: where the files came from, for the manifest.

        Raises:
            ModelError: a file is missing, or its size or sha256 differs from the entry.
        """
        records = []
        for f in entry.files:
            path = staged.get(f.name)
            if path is None or not path.is_file():
                raise ModelError(f"{entry.name}: file {f.name} is missing")
            size = path.stat().st_size
            if f.size is not None and size != f.size:
                raise ModelError(f"{entry.name}: {f.name} is {size} bytes, the catalogue says {f.size}")
            digest = sha256_file(path)
            if f.sha256 and digest != f.sha256.lower():
                raise ModelError(f"{entry.name}: {f.name} sha256 {digest} does not match the catalogue ({f.sha256})")
            records.append({"name": f.name, "size": size, "sha256": digest, "verified": bool(f.sha256)})
        folder = self.folder(entry.name)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for f in entry.files:
            shutil.move(str(staged[f.name]), folder / f.name)
        manifest = {
            "name": entry.name,
            "role": entry.role,
            "main": entry.main_file,
            "license": entry.license,
            "description": entry.description,
            "source": source,
            "catalog": catalog,
            "installed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": records,
        }
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(folder / MANIFEST)
        installed = self.installed(entry.name)
        assert installed is not None
        return installed

    def verify(self, name: str) -> list[str]:
        """Re-hash an installed model's files; returns the problems found (empty when all is well)."""
        manifest = self._manifest(name)
        if manifest is None:
            return [f"{name} is not installed"]
        problems = []
        for f in manifest.get("files", []):
            p = self.folder(name) / f["name"]
            if not p.is_file():
                problems.append(f"{f['name']}: missing")
            elif sha256_file(p) != f["sha256"]:
                problems.append(f"{f['name']}: sha256 changed since install (corrupt file?)")
        return problems

    def remove(self, name: str) -> bool:
        """Delete an installed model's folder; True if there was one."""
        folder = self.folder(name)
        if not (folder / MANIFEST).exists() and not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

    def entry_for(self, name: str) -> ModelEntry:
        """The catalogue entry, or one rebuilt from an installed local model's manifest.

        Raises:
            CatalogError: neither in the catalogue nor installed locally.
        """
        if name in self.catalog.models:
            return self.catalog.models[name]
        manifest = self._manifest(name)
        if manifest is None:
            raise CatalogError(f"unknown model {name!r}; known: {', '.join(sorted(self.catalog.models))}")
        from models.catalog import ModelFile

        return ModelEntry(
            name=name,
            role=manifest.get("role", "unknown"),
            description=manifest.get("description", ""),
            license=manifest.get("license", "unknown"),
            files=tuple(ModelFile(f["name"], f.get("size"), f.get("sha256")) for f in manifest.get("files", [])),
            main=manifest.get("main"),
        )
