"""The local LLM runtime: llama-cpp-python over a GGUF file.

The conversation is formatted by the model's own chat template (``tokenizer.chat_template`` in the
GGUF metadata, which llama-cpp-python renders with Jinja), and the reply is streamed token by
token.

The system prompt is the same on every turn, so its KV state is computed once: llama-cpp-python
keeps the evaluated tokens and re-evaluates only what follows the longest common prefix of the
next prompt, and a prompt cache (``LlamaRAMCache``) holds the state after each system prompt
evaluated by :meth:`LlamaChatModel.warm`, so that a turn in the other language starts from its
own system prompt's state too. Measured with Qwen2.5-Coder-0.5B Q4_K_M on 2 cores: the 147-token
Chinese system prompt takes about 2.5 s to evaluate; a question after it, about 1.4 s to its first
token (88 new tokens).
"""

from __future__ import annotations

import os
import threading
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


def lean_ram_cache(capacity_bytes: int):
    """llama-cpp-python's ``LlamaRAMCache``, keeping only the last row of each state's logits.

    llama-cpp-python saves a state into its cache after every completion, and each state carries
    a copy of the logits of every evaluated token (``scores``: up to ``n_batch`` × vocabulary
    float32, 512 × 151,936 × 4 B = 311 MB for Qwen2.5), which the cache does not count against
    its capacity (it counts only llama.cpp's own state, a few MB). Measured with the 0.5B model on
    this project's voice bench: resident memory rose past 3 GB after 16 answers. Only the last
    token's logits are ever read after a state is restored (the next token is sampled from them;
    ``load_state`` broadcasts the one row back into place), so that is all that is kept.

    Args:
        capacity_bytes: the cache's capacity in llama.cpp state bytes (as ``LlamaRAMCache``).
    """
    from llama_cpp import LlamaRAMCache

    class LeanRAMCache(LlamaRAMCache):
        def __setitem__(self, key, value) -> None:
            if getattr(value, "scores", None) is not None and len(value.scores) > 1:
                value.scores = value.scores[-1:].copy()
            super().__setitem__(key, value)

    return LeanRAMCache(capacity_bytes=capacity_bytes)


def gpu_offload() -> bool:
    """True when this llama-cpp-python was built with a GPU backend (CUDA, Metal, Vulkan…) that
    can take the model's layers: llama.cpp's ``llama_supports_gpu_offload()``. False when
    llama-cpp-python is missing."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


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
        prompt_cache_mb: RAM for the prompt cache of KV states (``LlamaRAMCache``; a state of
            Qwen2.5-Coder-0.5B after its system prompt is 2.1 MB), MiB; 0: no cache.

    Raises:
        ModelError: the file is missing or llama.cpp cannot load it.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 1234,
        prompt_cache_mb: int = 64,
    ):
        if not path.is_file():
            raise ModelError(f"LLM file not found: {path}")
        from llama_cpp import Llama

        try:
            trained = trained_context(path)
            if trained:
                n_ctx = min(n_ctx, trained)
            self._llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count(),
                n_gpu_layers=-1 if gpu_offload() else 0,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp cannot load {path}: {exc}") from exc
        if prompt_cache_mb:
            self._llama.set_cache(lean_ram_cache(prompt_cache_mb << 20))
        self.name = name
        self.path = path
        self.n_ctx = n_ctx
        #: One generation at a time: llama.cpp's context is not shared between threads.
        self._lock = threading.Lock()

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
        with self._lock:
            stream = self._llama.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True
            )
            try:
                for chunk in stream:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            finally:
                stream.close()

    def warm(self, conversations: Sequence[Sequence[dict[str, str]]]) -> None:
        """Evaluate each conversation's prompt (one token generated) and keep its state in the
        prompt cache: give each language's fixed system prompt, and the first turn in it starts
        from there. Takes the time of evaluating them (about 2.5 s per 150-token prompt on 2 CPU
        cores); call it from a background thread at start-up, generations wait for it."""
        for messages in conversations:
            with self._lock:
                self._llama.create_chat_completion(messages=list(messages), max_tokens=1, temperature=0.0)
