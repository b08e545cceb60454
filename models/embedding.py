"""The embedding runtime: llama-cpp-python in embedding mode over a GGUF file (e.g. bge-small-zh).

Pooling follows the model's metadata (CLS for BERT-style bge models); vectors are L2-normalised so
that cosine distance in sqlite-vec ranks them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.store import ModelError


class LlamaEmbedder:
    """Sentence embeddings from a GGUF model.

    Args:
        path: the GGUF file.
        name: the catalogue name; stored with the vectors so that a knowledge base is never
            searched with a different model's embeddings.
        n_ctx: longest input, tokens (longer inputs are truncated).
        n_threads: CPU threads (None: all cores).
        query_prefix: put before each text embedded with ``query=True`` (a model's retrieval
            instruction, e.g. bge-zh's "为这个句子生成表示以用于检索相关文章："); empty by default,
            so questions and passages are embedded alike.

    Raises:
        ModelError: the file is missing or llama.cpp cannot load it.
    """

    def __init__(
        self, path: Path, name: str, *, n_ctx: int = 512, n_threads: int | None = None, query_prefix: str = ""
    ):
        if not path.is_file():
            raise ModelError(f"embedding model file not found: {path}")
        from llama_cpp import Llama

        try:
            self._llama = Llama(
                model_path=str(path),
                embedding=True,
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                n_threads=n_threads or os.cpu_count(),
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp cannot load {path}: {exc}") from exc
        self.name = name
        self.dim = int(self._llama.n_embd())
        self.query_prefix = query_prefix

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Embed ``texts``: questions with ``query=True``, document passages otherwise.

        ``query`` only adds ``query_prefix`` (none by default: bge-small-zh-v1.5 retrieves well
        without its instruction).

        Returns:
            float32 array of shape (len(texts), dim), each row L2-normalised.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.query_prefix if query else ""
        rows = []
        for text in texts:  # one at a time: bounded memory, and no cross-sequence batching limits
            vec = np.asarray(self._llama.embed(prefix + text or " ", truncate=True), dtype=np.float32)
            if vec.ndim == 2:  # a model without pooling returns one vector per token: mean-pool
                vec = vec.mean(axis=0)
            norm = float(np.linalg.norm(vec))
            rows.append(vec / norm if norm > 0 else vec)
        return np.vstack(rows)
