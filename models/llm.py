"""The local LLM runtime: llama-cpp-python over a GGUF file.

The conversation is formatted by the model's own chat template (``tokenizer.chat_template`` in the
GGUF metadata, which llama-cpp-python renders with Jinja), and the reply is streamed token by
token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from models.store import ModelError


def trained_context(path: Path) -> int | None:
    """The context length a GGUF model was trained with (``<general.architecture>.context_length``),
    read with llama.cpp's vocabulary-only load (no weights); None when the metadata lacks it.

    Raises:
        ValueError: llama.cpp cannot read the file.
    """
    from llama_cpp import Llama

    meta = Llama(model_path=str(path), vocab_only=True, verbose=False).metadata
    value = meta.get(f"{meta.get('general.architecture', '')}.context_length")
    try:
        return int(value) if value else None
    except ValueError:
        return None


class LlamaChatModel:
    """A chat model loaded with llama-cpp-python.

    Args:
        path: the GGUF file.
        name: the catalogue name (for logs and the journal).
        n_ctx: context window, tokens; the model's trained context (``<arch>.context_length`` in
            the GGUF metadata) when that is smaller, since a model attends no further than it was
            trained to (llama.cpp warns "n_ctx_seq > n_ctx_train" otherwise). See :attr:`n_ctx`.
        n_threads: CPU threads (None: all cores).
        seed: sampling seed, for repeatable answers.

    Raises:
        ModelError: the file is missing or llama.cpp cannot load it.
    """

    def __init__(self, path: Path, name: str, *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 1234):
        if not path.is_file():
            raise ModelError(f"LLM file not found: {path}")
        from llama_cpp import Llama

        try:
            trained = trained_context(path)
            if trained:
                n_ctx = min(n_ctx, trained)
            self._llama = Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(), seed=seed, verbose=False
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp cannot load {path}: {exc}") from exc
        self.name = name
        self.path = path
        self.n_ctx = n_ctx

    @property
    def chat_template(self) -> str | None:
        """The chat template from the GGUF metadata (None when the file has none)."""
        return self._llama.metadata.get("tokenizer.chat_template")

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's vocabulary."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream_chat(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int = 256, temperature: float = 0.2
    ) -> Iterator[str]:
        """Yield the reply's text pieces as they are generated.

        Args:
            messages: ``{"role": "system"|"user"|"assistant", "content": str}`` dicts.
            max_tokens: generation cap, tokens.
            temperature: sampling temperature (0 = greedy).
        """
        stream = self._llama.create_chat_completion(
            messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True
        )
        for chunk in stream:
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece
