"""An embedder that remembers the last few questions it embedded, so that one question is
embedded once although the emergency triage and the search both read its embedding."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np


class QueryMemo:
    """Wraps an embedder (anything with ``name``, ``dim`` and ``embed(texts, *, query)``).

    Single-text question embeddings (``query=True``) are kept for the last ``size`` distinct texts;
    passages, batches and everything else go straight to the wrapped model.

    Args:
        embedder: the embedding model.
        size: how many questions to remember (a turn needs one; follow-ups search a second text).
    """

    def __init__(self, embedder, size: int = 8):
        self.inner = embedder
        self.name: str = embedder.name
        self.dim: int = int(embedder.dim)
        self.size = max(1, size)
        self.misses = 0
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """As the wrapped model's ``embed``: float32 array of shape (len(texts), dim), rows
        L2-normalised; a remembered question's row is a copy of the first embedding of it."""
        if not query or len(texts) != 1:
            return self.inner.embed(texts, query=query)
        key = texts[0]
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit[None, :].copy()
        row = np.asarray(self.inner.embed([key], query=True), dtype=np.float32)[0]
        with self._lock:
            self.misses += 1
            self._memo[key] = row
            while len(self._memo) > self.size:
                self._memo.popitem(last=False)
        return row[None, :].copy()
