"""From settings to loaded runtimes, or to a message naming the command that installs the model."""

from __future__ import annotations

from pathlib import Path

from models.catalog import CatalogError
from models.store import ModelError, ModelStore


def _resolve(store: ModelStore, role: str, name: str | None, path: Path | None) -> tuple[Path | None, str, str | None]:
    """(file, name, note): the model file to load, or None and a note saying why not."""
    if path is not None:
        return (path, path.stem, None) if path.is_file() else (None, path.stem, f"{role} file not found: {path}")
    if not name:
        return None, "", None
    installed = store.installed(name)
    if installed is None or installed.main_path is None:
        try:
            store.entry_for(name)
        except CatalogError as exc:
            return None, name, f"{role} model {name!r}: {exc}"
        return (
            None,
            name,
            (
                f"{role} model {name} is not installed; install it with `kiosk models pull {name}` "
                "(or `kiosk models import ARCHIVE` on a site without internet)"
            ),
        )
    if installed.role != role:
        return None, name, f"model {name} is a {installed.role} model, not an {role} model"
    return installed.main_path, name, None


def load_llm(settings, store: ModelStore):
    """Load the configured chat LLM.

    Args:
        settings: ``appliance.config.Settings``.

    Returns:
        ``(model, note)``: a :class:`~models.llm.LlamaChatModel` or None, and a note for the
        operator when it is None although one was configured.
    """
    cfg = settings.llm
    if not cfg.enabled:
        return None, None
    path, name, note = _resolve(store, "llm", cfg.model, cfg.path)
    if path is None:
        return None, note
    from models.llm import LlamaChatModel

    try:
        return LlamaChatModel(path, name, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, seed=cfg.seed), None
    except ModelError as exc:
        return None, f"{exc}; check the file with `kiosk models verify {name}`"


def load_embedder(settings, store: ModelStore):
    """Load the configured embedding model: ``(embedder or None, note or None)`` as for :func:`load_llm`."""
    cfg = settings.embedding
    if not cfg.enabled:
        return None, None
    path, name, note = _resolve(store, "embedding", cfg.model, cfg.path)
    if path is None:
        return None, note
    from models.embedding import LlamaEmbedder

    try:
        return LlamaEmbedder(path, name, n_threads=cfg.n_threads), None
    except ModelError as exc:
        return None, f"{exc}; check the file with `kiosk models verify {name}`"
