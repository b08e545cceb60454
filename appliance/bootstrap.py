"""Wiring: settings in, a ready answer engine out (the composition root of the text appliance).

Each function builds one piece; :class:`Appliance` holds what the front ends need and closes it.
Models are optional everywhere: a missing one leaves a note (naming the ``kiosk models`` command
that installs it) and the appliance carries on lexical-only and extractive.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.answer.engine import AnswerEngine
from appliance.config import RobotSettings, Settings, VadSettings
from appliance.journal import Journal, Redactor
from appliance.knowledge import origin as kb_origin
from appliance.knowledge.ingest import FileOutcome, Ingestor, IngestReport, reindex
from appliance.knowledge.lock import building
from appliance.knowledge.origin import KbState, looks_like_demo
from appliance.knowledge.readers import ReadLimits
from appliance.knowledge.retrieval import Embedder, Retriever
from appliance.knowledge.store import KnowledgeBase
from appliance.knowledge.text import Analyzer
from appliance.notify.channels import build_channels, kiosk_id_default
from appliance.notify.message import MessageComposer
from appliance.notify.sender import OutboxSender
from appliance.notify.summary import DailySummary
from appliance.privacy import published_numbers
from appliance.site import Site, load_site, load_synonyms, site_file_in_use
from appliance.triage import Triage
from models.loader import load_embedder, load_llm
from models.memo import QueryMemo
from models.store import ModelStore

if TYPE_CHECKING:
    from firmware_bridge.robot import Robot
    from firmware_bridge.sim.ports import SimulatedRobot

log = logging.getLogger(__name__)


def demo_kb_dir() -> Path:
    """The shipped demo knowledge base (Markdown guides of a fictional community)."""
    return Path(str(resources.files("appliance") / "demo" / "kb"))


def load_site_for(settings: Settings) -> Site:
    """The site profile in use (see :func:`appliance.site.site_file_in_use`)."""
    return load_site(site_file_in_use(settings))


def make_analyzer(settings: Settings, site: Site) -> Analyzer:
    """The text analyzer with the site's synonyms."""
    return Analyzer(load_synonyms(site.synonyms_file), cache_dir=settings.cache_dir)


def make_ingestor(settings: Settings, kb: KnowledgeBase, embedder: Embedder | None) -> Ingestor:
    """An ingestor with the configured limits."""
    limits = ReadLimits.from_settings(settings.ingest)
    return Ingestor(kb, embedder, limits, int(settings.ingest.max_file_mb * 2**20))


def make_retriever(settings: Settings, kb: KnowledgeBase, embedder: Embedder | None) -> Retriever:
    """A retriever over ``kb`` with the ``[retrieval]`` settings (lexical when ``embedder`` is None)."""
    return Retriever(
        kb,
        embedder,
        candidates=settings.retrieval.candidates,
        vector_memory_mb=settings.retrieval.vector_memory_mb,
    )


def ensure_demo(settings: Settings, kb: KnowledgeBase, embedder: Embedder | None) -> IngestReport | None:
    """Build the shipped demo into a knowledge base that has never held a site's guides, and keep
    a demo one current.

    Whether ``kb`` may hold the demo is its :attr:`~appliance.knowledge.store.KnowledgeBase.origin`:

    * new (nothing ever stored) or ``'demo'``: the demo is built, or brought up to date with the
      demo of this release (new and changed files ingested, unchanged ones skipped by their
      sha256, files the demo no longer has removed, and so are files of a demo folder elsewhere,
      e.g. of an older virtualenv), so a device upgraded from an older release shows the new demo
      guides, notices and tours;
    * ``'site'`` (a guide or tour not from the demo was stored once): never touched. Emptied of
      all its documents it stays empty, and the appliance says it has no guides; it is never
      refilled with the fictional community's guides and phone numbers.
    * a file from before the origin was recorded: with files all from a demo folder it is marked
      ``'demo'``, with any other file ``'site'``; one that has been written to but holds nothing
      now is left alone (it may have been a site's).

    With an embedding model whose demo vectors ship with the release
    (:mod:`appliance.demo_vectors`), they are put in the vector cache first, so the demo is
    embedded at once; for any other model the demo is ingested for keyword search and ``kiosk kb
    reindex`` embeds it.

    Returns:
        The ingest report when anything was built, added, updated or removed; None otherwise.
    """
    from appliance import demo_vectors

    demo = demo_kb_dir().resolve()
    sources = kb.source_paths()
    origin = kb.origin
    if origin is None and kb.version > 0:  # written before the origin marker
        if not sources:
            log.info("knowledge base %s is empty but was written to: left empty", kb.db.path)
            return None
        origin = "demo" if all(looks_like_demo(s, demo) for s in sources) else "site"
        with kb.conn:
            kb.mark_origin(origin)
    if origin == "site":
        return None
    if kb.is_empty():
        log.info("knowledge base %s is new: building it from the demo guides", kb.db.path)
    if embedder is not None and kb.embedding_model in (None, embedder.name) and kb.db.has_vec:
        if not demo_vectors.seed(kb, embedder.name):
            embedder = None
    else:
        embedder = None
    removed = []
    for source in sources:  # the demo no longer has it, or it is another installation's demo
        if not Path(source).is_relative_to(demo) or not Path(source).exists():
            kb.remove_source(source)
            removed.append(FileOutcome(source, "removed"))
    with kb.storing_demo():
        report = make_ingestor(settings, kb, embedder).ingest([demo])
    report.outcomes.extend(removed)
    if embedder is not None and not kb.vectors_complete():
        todo = kb.chunks_without_vectors()
        if len(kb.cached_vectors(embedder.name, [t for _, t in todo])) == len({t for _, t in todo}):
            reindex(kb, embedder)  # a demo built before its vectors shipped: all of them are in the cache
    changed = any(o.status != "unchanged" for o in report.outcomes)
    return report if changed else None


def _demo_note(kb: KnowledgeBase, report: IngestReport, built: bool) -> str:
    """The operator's note for what :func:`ensure_demo` did."""
    failed = (
        f"; {len(report.failed)} file(s) failed: "
        + ", ".join(f"{Path(o.path).name} ({o.reason})" for o in report.failed)
        if report.failed
        else ""
    )
    if built:
        return f"built the knowledge base {kb.db.path} from the demo guides ({report.documents} documents){failed}"
    counts = ", ".join(
        f"{report.count(status)} {status}" for status in ("added", "updated", "removed") if report.count(status)
    )
    return f"updated the demo knowledge base {kb.db.path} to this release's demo ({counts or 'no changes'}){failed}"


@dataclass
class Appliance:
    """What a front end needs: the engine and what it was built from.

    Attributes:
        notes: messages for the operator (a missing model and how to install it, the example site
            profile in use, the demo knowledge base being built, a knowledge base with no guides or
            with demo guides among a site's).
        kb_file: the knowledge-base path opened (``DATA_DIR/kb.sqlite``, a link once synced).
        embedder: the embedding model in use, for knowledge bases opened later.
        on_kb_swapped: called (on the answering thread) with the knowledge base the engine now
            answers from, after :meth:`stage_reload` and the next conversation's start.
    """

    settings: Settings
    site: Site
    kb: KnowledgeBase
    engine: AnswerEngine
    journal: Journal | None
    notes: list[str] = field(default_factory=list)
    kb_file: Path | None = None
    embedder: Embedder | None = None
    on_kb_swapped: list[Callable[[KnowledgeBase], None]] = field(default_factory=list)
    _kb_real: str = ""
    _staged: tuple[Retriever, Site] | None = field(default=None, repr=False)
    _staged_real: str = field(default="", repr=False)
    _staged_redactor: Redactor | None = field(default=None, repr=False)
    _retired: list[KnowledgeBase] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.kb_file is not None and not self._kb_real:
            self._kb_real = os.path.realpath(self.kb_file)
        self.engine.staged = self._take_staged

    def stage_reload(self) -> bool:
        """Open the knowledge base ``kb_file`` points to now, if a sync or a rollback pointed it
        at another file, and stage it: the engine takes it at the start of its next conversation
        (:meth:`~appliance.answer.engine.AnswerEngine.between_conversations`). Call it from the
        thread that swapped the file; the opening (analyzer, synonyms, site profile) happens here.

        Returns:
            True when a new knowledge base was staged.

        Raises:
            appliance.site.SiteError, appliance.knowledge.store.KnowledgeBaseError: unusable files
                (the engine keeps its knowledge base).
        """
        if self.kb_file is None:
            return False
        real = os.path.realpath(self.kb_file)
        with self._lock:
            if real == self._kb_real or (self._staged is not None and real == self._staged_real):
                return False
        site = load_site_for(self.settings)
        analyzer = make_analyzer(self.settings, site)
        analyzer.warm_up()
        kb = KnowledgeBase.open(Path(real), analyzer)
        retriever = make_retriever(self.settings, kb, self.embedder)
        redactor = journal_redactor(site, kb) if self.journal is not None else None
        with self._lock:
            if self._staged is not None:
                self._staged[0].kb.close()  # staged, never used
            self._staged, self._staged_real, self._staged_redactor = (retriever, site), real, redactor
        log.info("knowledge base %s staged: answered from at the next conversation", real)
        return True

    def _take_staged(self) -> tuple[Retriever, Site] | None:
        with self._lock:
            staged, self._staged = self._staged, None
            if staged is None:
                return None
            for old in self._retired:  # retired a swap ago: nothing answers from it any more
                old.close()
            self._retired = [self.kb]
            self.kb, self.site, self._kb_real = staged[0].kb, staged[1], self._staged_real
            if self.journal is not None and self._staged_redactor is not None:
                self.journal.redact = self._staged_redactor  # the new guides' published numbers stay
        for listener in self.on_kb_swapped:
            listener(self.kb)
        return staged

    def kb_state(self) -> KbState:
        """What the knowledge base holds now: no guides, the fictional demo, or the site's own
        (:func:`appliance.knowledge.origin.kb_state`; one query, re-read on every call)."""
        return kb_origin.kb_state(self.kb, demo_kb_dir())

    def close(self) -> None:
        """Close the knowledge base (and any staged or retired one) and the journal."""
        with self._lock:
            for old in self._retired:
                old.close()
            if self._staged is not None:
                self._staged[0].kb.close()
        self.kb.close()
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> Appliance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_appliance(
    settings: Settings, *, kb_path: Path | None = None, use_llm: bool = True, journal: bool = True
) -> Appliance:
    """Open the knowledge base (building the demo into a new one: :func:`ensure_demo`), load the
    models that are installed, and assemble the answer engine.

    Processes starting at once on a new data dir take turns (:func:`appliance.knowledge.lock.building`):
    the first builds the demo and notes it, the others wait and find it built.

    Args:
        kb_path: a knowledge-base file other than the configured one (``--kb``).
        use_llm: False to answer extractively even when an LLM is installed.
        journal: False to record nothing (benchmarks, evaluation).

    Raises:
        appliance.site.SiteError, appliance.knowledge.store.KnowledgeBaseError: unusable files, or
            another process kept the knowledge base's build lock too long.
    """
    notes: list[str] = []
    site = load_site_for(settings)
    if site.example:
        notes.append(f"using the EXAMPLE site profile (a fictional community): {site.source}")
    store = ModelStore(settings.models_path)
    embedder, note = load_embedder(settings, store)
    if note:
        notes.append(note + "; searching by keywords only")
    if embedder is not None:
        embedder = QueryMemo(embedder)  # the triage and the search embed a question once
    analyzer = make_analyzer(settings, site)
    analyzer.warm_up()
    kb_file = kb_path or settings.kb_file
    with building(kb_file):
        kb = KnowledgeBase.open(kb_file, analyzer)
        try:
            was_empty = kb.is_empty()
            report = ensure_demo(settings, kb, embedder)
        except BaseException:
            kb.close()
            raise
    if report is not None:
        notes.append(_demo_note(kb, report, was_empty))
    state = kb_origin.kb_state(kb, demo_kb_dir())
    if state.kind in ("empty", "mixed") or (state.kind == "demo" and report is None):
        notes.append(f"{kb.db.path}: {state.describe()}")
    if embedder is not None and (kb.embedding_model != embedder.name or not kb.vectors_complete()):
        have, total = kb.vector_counts() if kb.embedding_model == embedder.name else (0, kb.vector_counts()[1])
        notes.append(
            f"{have} of {total} chunks have vectors of {embedder.name}; searching by keywords until "
            "`kiosk kb reindex` has embedded them all"
        )
    llm = None
    if use_llm:
        llm, note = load_llm(settings, store)
        if note:
            notes.append(note + "; answering extractively from the guides")
    retriever = make_retriever(settings, kb, embedder)
    triage = Triage.load().with_embedder(embedder)
    jr = open_journal(settings, site, kb, triage) if journal else None
    engine = AnswerEngine(
        retriever,
        site,
        triage,
        llm=llm,
        journal=jr,
        retrieval=settings.retrieval,
        llm_settings=settings.llm,
        default_lang=settings.language,
    )
    return Appliance(settings, site, kb, engine, jr, notes, kb_file=kb_file, embedder=embedder)


def kiosk_identity(settings: Settings, site: Site) -> tuple[str, str]:
    """(id, name) of this kiosk in messages to staff: ``[notify] kiosk_id`` (default the host
    name) and ``kiosk_name`` (default the community's name)."""
    return settings.notify.kiosk_id or kiosk_id_default(), settings.notify.kiosk_name or site.name


def journal_redactor(site: Site, kb: KnowledgeBase) -> Redactor:
    """The journal's redactor: published numbers stay (the site's, and those the guides give)."""
    keep = [site.duty_phone, site.property_hotline, *(v for v in site.emergency.model_dump().values() if v)]
    return Redactor([*keep, *published_numbers(kb.chunk_texts())])


def open_journal(settings: Settings, site: Site, kb: KnowledgeBase, triage: Triage) -> Journal:
    """The journal, with its redactor and, when ``[notify]`` is enabled, the messages to staff
    its alerts and handoffs queue (:mod:`appliance.notify`).

    Raises:
        OSError, sqlite3.DatabaseError: see :class:`~appliance.journal.Journal`.
    """
    kiosk_id, kiosk_name = kiosk_identity(settings, site)
    notify = settings.notify
    composer = MessageComposer(kiosk_name, site.address, triage, site.duty_phone) if notify.enabled else None
    routes = {c.name: list(c.kinds) for c in notify.channels} if notify.enabled else {}
    return Journal(
        settings.journal_file,
        journal_redactor(site, kb),
        retention_days=settings.journal_retention_days,
        composer=composer,
        routes=routes,
        kiosk_id=kiosk_id,
    )


def start_sender(settings: Settings, site: Site, journal: Journal) -> tuple[OutboxSender | None, list[str]]:
    """Start delivering the journal's outbox to the ``[notify]`` channels (see
    :class:`~appliance.notify.sender.OutboxSender`), with the daily summary as housekeeping.

    Returns:
        (the running sender, or None when notify is off or no channel could be built; a note
        for each channel that cannot be built, naming what to fix).
    """
    notify = settings.notify
    if not notify.enabled or not notify.channels:
        return None, []
    kiosk_id, kiosk_name = kiosk_identity(settings, site)
    channels, problems = build_channels(notify, kiosk_id)
    if not channels:
        return None, problems
    summary = None
    if notify.summary_at is not None:
        summary = DailySummary(journal, kiosk_id=kiosk_id, kiosk=kiosk_name, place=site.address, at=notify.summary_at)
    sender = OutboxSender(
        journal.outbox,
        channels,
        notify,
        kiosk_id=kiosk_id,
        kiosk=kiosk_name,
        place=site.address,
        housekeeping=summary,
        lock_path=journal.path.with_name("outbox.lock"),
    )
    journal.outbox.on_queued = sender.wake
    sender.start()
    return sender, problems


class VoiceUnavailable(RuntimeError):
    """The voice loop cannot start: the message names the model to install and the command."""


@dataclass
class VoiceModels:
    """The speech models of the voice loop.

    Attributes:
        asr: the speech recogniser (``voice.asr.WhisperASR``).
        voices: TTS per language (``voice.tts.Voices``).
        vad: Silero VAD (``voice.vad.SileroVAD``).
        notes: which voice each language uses, and why a fallback was chosen.
    """

    asr: object
    voices: object
    vad: object
    notes: list[str] = field(default_factory=list)


def vocabulary_prompt(appliance: Appliance) -> str:
    """The Whisper prompt for this site: knowledge-base titles, then the synonyms' official terms."""
    from voice.asr import build_initial_prompt

    titles = [d.title for d in appliance.kb.documents() if d.lang != "en"]
    terms = list(load_synonyms(appliance.site.synonyms_file))
    return build_initial_prompt(titles, terms)


def load_voice_models(appliance: Appliance) -> VoiceModels:
    """Load VAD, ASR and TTS for ``appliance``.

    Raises:
        VoiceUnavailable: no speech recogniser (the message names ``kiosk models pull`` /
            ``import``) or the VAD cannot be loaded.
    """
    from models.loader import load_asr, load_voices
    from voice.audio import AudioError
    from voice.vad import SileroVAD

    settings = appliance.settings
    store = ModelStore(settings.models_path)
    try:
        vad = SileroVAD()
    except AudioError as exc:
        raise VoiceUnavailable(str(exc)) from exc
    prompt = vocabulary_prompt(appliance) if settings.asr.vocabulary_prompt else ""
    asr, note = load_asr(settings, store, prompt, tuple(appliance.site.languages))
    if asr is None:
        raise VoiceUnavailable(f"cannot listen: {note}")
    voices = load_voices(settings, store)
    heard = f"{'/'.join(asr.languages)}, per turn" if asr.language == "site" else asr.language
    notes = [f"speech recognition: {asr.name} ({asr.device}, {asr.compute_type}, language {heard})"]
    notes += [f"speech output {n}" for n in voices.notes]
    return VoiceModels(asr, voices, vad, notes)


def build_conversation(appliance: Appliance, models: VoiceModels, sink, on_event=None):
    """A voice loop (:class:`appliance.conversation.Conversation`) with a fresh session, wired to the
    appliance's engine, the speech models, ``sink`` and the configured VAD and conversation settings."""
    from appliance.conversation import Conversation
    from appliance.dialogue import Session
    from voice.endpoint import Endpointer

    cfg = appliance.settings.conversation
    endpointer = Endpointer(endpoint_config(appliance.settings.vad))
    session = Session(appliance.engine, cfg.session_timeout_s, cfg.history_turns)
    models.vad.reset()
    return Conversation(session, models.asr, models.voices, sink, models.vad, endpointer, cfg, on_event)


def endpoint_config(vad: VadSettings):
    """``[vad]`` as :class:`voice.endpoint.EndpointConfig`, field by name (the two hold the same
    fields: a test keeps them equal, so a setting cannot be added to one and forgotten in the other).

    Raises:
        ValueError: the thresholds are out of order (EndpointConfig's own check).
    """
    from voice.endpoint import EndpointConfig

    return EndpointConfig(**vad.model_dump())


@dataclass
class RobotRuntime:
    """The body as the appliance holds it: the robot API, and the simulated controller when the
    port is ``sim``. ``robot`` is None when configured without a body."""

    robot: Robot | None = None
    sim: SimulatedRobot | None = None
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Close the link, then the simulator."""
        if self.robot is not None:
            self.robot.link.close()
        if self.sim is not None:
            self.sim.close()

    def __enter__(self) -> RobotRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_robot(
    settings: RobotSettings,
    port: str | None = None,
    *,
    on_action: Callable[[str], None] | None = None,
    on_frame: Callable | None = None,
    wait_s: float = 2.0,
) -> RobotRuntime:
    """Start the robot link on ``port`` (default: ``settings.port``): 'none' gives no body, 'sim'
    starts the simulated controller on a pseudo-terminal (its actions go to ``on_action``).

    Waits up to ``wait_s`` for the handshake; if it does not come the link keeps retrying in the
    background and the appliance runs without a body meanwhile (degraded mode, noted).
    ``on_frame`` is the link's monitor hook (``kiosk robot monitor``).
    """
    from firmware_bridge.link import RobotLink
    from firmware_bridge.robot import Robot
    from firmware_bridge.sim.ports import SimulatedRobot

    spec = port if port is not None else settings.port
    if not spec or spec.strip().lower() == "none":
        return RobotRuntime()
    runtime = RobotRuntime()
    if spec.strip().lower() == "sim":
        runtime.sim = SimulatedRobot(on_action=on_action).start()
        spec = runtime.sim.port
        runtime.notes.append(f"robot: simulated controller on {spec}")
    link = RobotLink(
        spec,
        baudrate=settings.baudrate,
        ack_timeout_s=settings.ack_timeout_ms / 1e3,
        retries=settings.retries,
        heartbeat_hz=settings.heartbeat_hz,
        link_timeout_s=settings.link_timeout_ms / 1e3,
        backoff_s=(0.2, settings.reconnect_max_s),
        on_frame=on_frame,
    )
    runtime.robot = Robot(
        link,
        head_speed_dps=settings.head_speed_dps,
        base_speed_dps=settings.base_speed_dps,
        motion_interval_s=settings.motion_interval_ms / 1e3,
    )
    link.start()
    if link.wait_connected(wait_s):
        link.wait_health(0.5)  # the e-stop state is known before the first command
    else:
        runtime.notes.append(
            f"robot: no controller on {spec} ({link.error or link.state.value}); running without a body "
            "and retrying in the background"
        )
    return runtime
