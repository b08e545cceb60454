"""Embeddings of the demo guides, shipped, so the demo searches hybrid from its first question.

Embedding the demo's 600-odd chunks with multilingual-e5-small takes about 45 s on two cores: too
long for the first ``kiosk ask`` on a new device. So the release carries them, one file per model
(``appliance/demo/vectors/<model>.npz``: ``sha256`` of each embedded text, chunks and titles, and the vectors as
float16), and :func:`appliance.bootstrap.ensure_demo` puts them in the knowledge base's vector
cache before ingesting the demo: only text the file does not hold is embedded on the device.

    python -m appliance.demo_vectors [--model multilingual-e5-small-q4]   # after changing the demo

rewrites the file from a fresh demo knowledge base; a test checks that it covers every chunk of
the shipped demo.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from appliance.knowledge.store import KnowledgeBase, text_sha256

VECTORS_DIR = Path(__file__).resolve().parent / "demo" / "vectors"


def shipped_path(model: str) -> Path:
    """Where the demo's vectors of ``model`` are shipped (the file may not exist)."""
    return VECTORS_DIR / f"{model}.npz"


def load_shipped(model: str) -> dict[str, np.ndarray]:
    """The shipped demo vectors of ``model``: sha256 of the embedded text -> float32 vector (empty
    when none are shipped or the file is unreadable)."""
    path = shipped_path(model)
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            shas, vecs = data["sha256"], data["vectors"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return {}
    return {str(s): v for s, v in zip(shas, vecs, strict=True)}


def seed(kb: KnowledgeBase, model: str) -> int:
    """Put the shipped demo vectors of ``model`` in ``kb``'s vector cache; returns how many."""
    vectors = load_shipped(model)
    if vectors:
        kb.seed_vector_cache(model, vectors)
    return len(vectors)


def export(kb: KnowledgeBase, model: str, path: Path) -> int:
    """Write the vectors of ``model`` for every chunk of ``kb`` (they must all be embedded), and in
    a knowledge base of two languages for every written title (what cross-language search reads),
    to ``path``; returns how many.

    Raises:
        ValueError: some chunk or title has no vector of ``model`` in the cache.
    """
    from appliance.knowledge.retrieval import written_title

    texts = [t for _, t in kb.all_chunk_texts()]
    if kb.documents_in("zh") and kb.documents_in("en"):
        texts += [d.title for d in kb.documents() if written_title(d)]
    cached = kb.cached_vectors(model, texts)
    shas = sorted({text_sha256(t) for t in texts})
    missing = [s for s in shas if s not in cached]
    if missing:
        raise ValueError(f"{len(missing)} chunks or titles have no vector of {model}: run reindex first")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, sha256=np.array(shas), vectors=np.stack([cached[s] for s in shas]).astype(np.float16))
    return len(shas)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: embed a fresh demo knowledge base with the model and write its file."""
    from appliance.bootstrap import demo_kb_dir, load_site_for, make_analyzer
    from appliance.config import Settings
    from appliance.knowledge.ingest import Ingestor, reindex
    from models.loader import load_embedder
    from models.store import ModelStore

    parser = argparse.ArgumentParser(description="Write the demo guides' shipped vectors for one embedding model.")
    parser.add_argument("--model", default="multilingual-e5-small-q4", help="catalogue name")
    args = parser.parse_args(argv)
    settings = Settings()
    settings.embedding.model = args.model
    settings.embedding.backend = "auto"
    embedder, note = load_embedder(settings, ModelStore(settings.models_path))
    if embedder is None:
        print(f"cannot load {args.model}: {note}", file=sys.stderr)
        return 1
    analyzer = make_analyzer(settings, load_site_for(settings))
    with tempfile.TemporaryDirectory() as tmp, KnowledgeBase.open(Path(tmp) / "kb.sqlite", analyzer) as kb:
        seed(kb, embedder.name)  # what is still current need not be embedded again
        Ingestor(kb).ingest([demo_kb_dir()])
        reindex(kb, embedder)
        n = export(kb, embedder.name, shipped_path(embedder.name))
    print(f"wrote {shipped_path(embedder.name)}: {n} vectors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
