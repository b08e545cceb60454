"""The answer engine: a question in, one :class:`~appliance.answer.types.Answer` out.

Order of decisions, cheapest and most urgent first:

1. **emergency** — triage (rules, then the learned detector; well under a millisecond) on the
   words the resident said, before any follow-up resolution, search or model: scripted guidance
   with the site's numbers and an alert in the journal. When only the detector speaks, and it is
   unsure, the numbers are shown at once and the resident is asked "您现在有危险吗？" (reason
   ``check:<category>``) instead of being answered from a guide.
2. small talk — who it is (it says it is an AI), greetings, thanks: scripted; requests no
   community service answers (weather, tickets, stocks, poems): an honest **no_answer** at once.
3. **handoff** — matters for a person (disputes, complaints, family or privacy, distress, asking
   for staff): a kind scripted reply with how to reach staff, and a handoff record; when the
   resident gave a number to be called back on, the record keeps it and the reply says it is used
   only for that.
4. retrieval — the session's follow-up resolution (if any) runs only now; below
   ``retrieval.clarify_confidence`` **no_answer**, with the closest topics and staff contact,
   recorded as a knowledge-base gap; between that and ``retrieval.min_confidence``, **clarify**:
   "您是想问《…》吗？" with the top topics as buttons, recorded as a clarification.
5. **answer** — by the LLM when one is loaded (grounded and cited, see
   :mod:`~appliance.answer.generative`), else extractive; an LLM answer that fails its checks is
   replaced by the extractive one. An extractive answer has a short spoken form besides the full
   one on screen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from appliance.answer.extractive import Extract, ExtractiveAnswerer
from appliance.answer.generative import (
    ChatModel,
    GroundingGate,
    PromptSource,
    build_messages,
    estimate_tokens,
    fit_sources,
    generate,
)
from appliance.answer.scripts import Scripts
from appliance.answer.types import Answer, Mode, Source
from appliance.config import LLMSettings, RetrievalSettings
from appliance.journal import Journal
from appliance.knowledge.retrieval import DocResult, Retriever, SearchResponse
from appliance.knowledge.store import Chunk
from appliance.knowledge.text import detect_lang
from appliance.privacy import Redactor
from appliance.service import Heartbeat
from appliance.site import Site
from appliance.triage import Assessment, Triage

log = logging.getLogger(__name__)

#: A runner-up is offered in a clarification when its fused score is at least this share of the
#: top document's (two topics about as likely as each other; a distant third is left out).
CLARIFY_SCORE_SHARE = 0.6


#: A runner-up document's best section joins the LLM prompt when its fused score is at least this
#: share of the top document's (close enough that the question may be about it).
RUNNER_UP_SHARE = 0.9


@dataclass(frozen=True)
class _Prompted:
    """One source of the LLM prompt: its document, the chunks its text comes from, a heading, the text."""

    result: DocResult
    chunks: tuple[Chunk, ...]
    heading: str
    text: str


#: A session's follow-up resolution, run only once triage has let the question through to
#: retrieval: the question -> (the text to search with, or None for the question itself; the
#: search response for it when the resolution already ran that search, else None).
Resolver = Callable[[str], tuple[str | None, SearchResponse | None]]


@dataclass(frozen=True)
class _Turn:
    """What one call of :meth:`AnswerEngine.ask` carries besides the question."""

    query: str | None
    resolve: Resolver | None
    history: tuple[dict[str, str], ...]
    cancelled: Callable[[], bool] | None
    speech: bool
    topic: str | None
    safe: bool


def policy_mode(response: SearchResponse, settings: RetrievalSettings) -> str:
    """What the answer policy does with a search response once triage has let the question
    through: 'answer' at ``settings.min_confidence`` or above, 'clarify' from
    ``settings.clarify_confidence`` up to it, else 'no_answer' — except that a hybrid search whose
    best guide is in another language than the question is at least a clarification: no word can
    confirm such a guide (the confidence features are lexical), so the resident is asked
    ("Do you mean 《残疾人证办理》?") instead of being refused."""
    if response.top is None:
        return "no_answer"
    if response.confidence < settings.clarify_confidence:
        crossed = response.mode == "hybrid" and response.top.doc.lang != detect_lang(response.query)
        return "clarify" if crossed else "no_answer"
    return "answer" if response.confidence >= settings.min_confidence else "clarify"


def decide_mode(
    response: SearchResponse, settings: RetrievalSettings, triage: Triage, norm: str
) -> tuple[str, str | None]:
    """The answer policy's decision and its reason for a question triage let through: the
    ``out_of_scope`` rules refuse it whatever retrieval found; otherwise :func:`policy_mode`,
    except that a question the domain detector reads as off the domain gets an honest
    ``no_answer`` instead of a clarification (offering unrelated guides for "帮我写一首诗" helps no
    one). The detector never overrides a confident answer: its domain is a community centre's,
    and a site's own guides (a city FAQ on festivals and buses) may reach past it.

    Measured with ``kiosk bench answers`` (lexical): the demo's out-of-scope questions clarified
    went from 32 % to 13 % on the development split and from 36 % to 25 % on the test split
    (answered: unchanged); the demo's answerable test questions refused from 3.4 % to 4.4 %; the
    Taipei city FAQ, whose festivals and buses lie beyond a community centre, lost 3–5 points of
    clarifications to refusals, which is why ``[retrieval] refuse_off_domain`` can switch it off.

    Args:
        norm: the resident's words, normalised (:meth:`Analyzer.normalize`).

    Returns:
        (mode, reason): reason ``"out_of_scope"`` when the rules or the detector refused it, else
        None.
    """
    if triage.is_out_of_scope(norm):
        return "no_answer", "out_of_scope"
    mode = policy_mode(response, settings)
    if mode == "clarify" and settings.refuse_off_domain and triage.is_off_domain(norm):
        return "no_answer", "out_of_scope"
    return mode, None


def clarify_offers(response: SearchResponse) -> list[DocResult]:
    """The topics a clarification asks about: the top document, and up to two runners-up whose fused
    score is at least :data:`CLARIFY_SCORE_SHARE` of its."""
    if not response.results:
        return []
    top = response.results[0]
    return [top] + [r for r in response.results[1:3] if r.score >= CLARIFY_SCORE_SHARE * top.score]


def _source(result: DocResult, chunk: Chunk) -> Source:
    return Source(result.doc.doc_id, result.doc.title, chunk.heading_path[-1], result.doc.source)


class AnswerEngine:
    """Answers residents' questions from the knowledge base.

    Args:
        retriever: searches the knowledge base.
        site: the site profile (names, hours, numbers).
        triage: emergency, handoff and small-talk rules.
        llm: a loaded chat model, or None for extractive answers.
        journal: where turns, handoffs, gaps and alerts are recorded (None: not recorded).
        retrieval: thresholds and sizes.
        llm_settings: generation limits.
    """

    def __init__(
        self,
        retriever: Retriever,
        site: Site,
        triage: Triage,
        *,
        llm: ChatModel | None = None,
        journal: Journal | None = None,
        retrieval: RetrievalSettings | None = None,
        llm_settings: LLMSettings | None = None,
        default_lang: str = "zh",
    ):
        self.retriever = retriever
        self.analyzer = retriever.analyzer
        self.site = site
        self.triage = triage
        self.llm = llm
        self.journal = journal
        self.settings = retrieval or RetrievalSettings()
        self.llm_settings = llm_settings or LLMSettings()
        self.default_lang = default_lang
        self.scripts = Scripts(site)
        self.extractive = ExtractiveAnswerer()
        #: Returns a knowledge base opened and ready to answer from (its retriever and the site
        #: profile it came with) when a sync or rollback staged one, else None. See
        #: :meth:`between_conversations`.
        self.staged: Callable[[], tuple[Retriever, Site] | None] | None = None
        #: The answer worker's progress for the service watchdog (:mod:`appliance.service`): busy
        #: while an answer is made, a beat per sentence. None outside ``kiosk run``.
        self.activity: Heartbeat | None = None

    def between_conversations(self) -> bool:
        """A conversation is about to start: answer from a knowledge base a sync or a rollback
        staged, if there is one (never in the middle of a conversation). Only references change
        hands: the new knowledge base was opened beforehand, so a first question that is an
        emergency waits for nothing.

        Returns:
            True when the engine now answers from a new knowledge base.
        """
        new = self.staged() if self.staged is not None else None
        if new is None:
            return False
        retriever, site = new
        self.retriever, self.analyzer = retriever, retriever.analyzer
        if site != self.site:
            self.site, self.scripts = site, Scripts(site)
        return True

    def warm(self) -> threading.Thread | None:
        """Start evaluating the LLM's system prompt in each of the site's languages on a
        background thread (``LlamaChatModel.warm``), so that the first question does not pay for
        it; a question asked meanwhile waits for the model. None without an LLM, or with one
        that cannot warm."""
        warm = getattr(self.llm, "warm", None)
        if warm is None:
            return None
        conversations = [build_messages("", lang, self.site, []) for lang in self.site.languages]

        def run() -> None:
            try:
                warm(conversations)
            except Exception:  # a failed warm-up only costs the first question its time
                log.exception("evaluating the LLM's system prompts failed")

        thread = threading.Thread(target=run, name="llm-warm", daemon=True)
        thread.start()
        return thread

    def ask(
        self,
        question: str,
        *,
        on_text: Callable[[str], None] | None = None,
        on_mode: Callable[[str], None] | None = None,
        query: str | None = None,
        resolve: Resolver | None = None,
        history: Sequence[dict[str, str]] = (),
        cancelled: Callable[[], bool] | None = None,
        record: bool = True,
        speech: bool = False,
        topic: str | None = None,
        safe: bool = False,
    ) -> Answer:
        """Answer one question.

        Args:
            question: what the resident said or typed.
            on_text: called with answer text as it becomes final (once for scripted and extractive
                answers, sentence by sentence for LLM answers).
            on_mode: called once with the mode ('emergency', 'handoff', 'no_answer', 'clarify',
                'answer') as soon as it is decided, before any text: a front end can switch
                screens at once.
            query: the text to search the knowledge base with, when it differs from the question.
                Triage always reads the question itself.
            resolve: a session's follow-up resolution (see :data:`Resolver`), called only when
                the question reaches retrieval, so that an emergency never waits for it; it
                overrides ``query``.
            history: earlier turns of the session as chat messages, for the LLM.
            cancelled: polled during generation; when it returns True (a barge-in) generation
                stops, nothing more reaches ``on_text`` and the answer's reason is 'cancelled'.
            record: False leaves the journal to the caller (the voice loop adds its timings first).
            speech: the answer is spoken: ``on_text`` gets the short spoken form of an extractive
                answer (the full one is ``Answer.answer``, for the screen).
            topic: a document id the resident chose (from a clarification): answer from it
                without the confidence test.
            safe: the resident has just said they are not in danger: an unsure detector reading
                does not ask again (rule matches and sure readings still raise the alarm).

        Returns:
            The answer; it is also recorded in the journal when one is configured and ``record``.
        """
        t0 = time.perf_counter()
        announced: list[str] = []
        activity = self.activity
        if activity is not None and on_text is not None:
            on_text = _beating(on_text, activity)

        def text_after_mode(mode: str) -> Callable[[str], None] | None:
            if on_mode is not None and not announced:
                announced.append(mode)
                on_mode(Mode(mode))
            return on_text

        turn = _Turn(query, resolve, tuple(history), cancelled, speech, topic, safe)
        with activity.busy() if activity is not None else nullcontext():
            return self._finish(self._decide(question, text_after_mode, t0, turn), t0, record)

    def _finish(self, answer: Answer, t0: float, record: bool) -> Answer:
        """Stamp the total time since ``t0`` (``time.perf_counter``) and record the answer when asked."""
        answer.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
        if record:
            self.record(answer)
        return answer

    def confirm_emergency(
        self,
        question: str,
        category: str,
        *,
        on_text: Callable[[str], None] | None = None,
        on_mode: Callable[[str], None] | None = None,
        record: bool = True,
        **_: object,
    ) -> Answer:
        """The resident said yes to "are you in danger?": the full guidance for ``category``, and
        the alarm (an alert in the journal).

        Raises:
            KeyError: no such emergency category.
        """
        t0 = time.perf_counter()
        lang = self._lang(question)
        cat = self.triage.category(category)
        if on_mode:
            on_mode(Mode.EMERGENCY)
        answer = self._emergency(question, lang, Assessment(cat, "alarm", "resident", 1.0), {}, lambda _m: on_text)
        return self._finish(answer, t0, record)

    def declined(
        self,
        question: str,
        offered: Sequence[str],
        *,
        on_text: Callable[[str], None] | None = None,
        on_mode: Callable[[str], None] | None = None,
        record: bool = True,
        **_: object,
    ) -> Answer:
        """The resident said none of the topics a clarification offered is meant: an honest
        no-answer with the staff's contact, recorded as a knowledge-base gap for ``question``."""
        t0 = time.perf_counter()
        lang = self._lang(question)
        text = self.scripts.text("clarify_declined", lang)
        if on_mode:
            on_mode(Mode.NO_ANSWER)
        if on_text:
            on_text(text)
        answer = Answer(question, text, "no_answer", "scripted", [], {}, lang, None, "declined", list(offered))
        return self._finish(answer, t0, record)

    def record(self, answer: Answer) -> None:
        """Write an answer to the journal, if there is one (errors are logged, never raised)."""
        if self.journal is None:
            return
        try:
            self.journal.record(answer, kb_version=self.retriever.kb.version)
        except Exception:  # the journal must never stop an answer
            log.exception("journal write failed")

    # ------------------------------------------------------------------------------------------

    def _lang(self, question: str) -> str:
        return detect_lang(question) if question.strip() else self.default_lang

    def _decide(
        self, question: str, mode_then_text: Callable[[str], Callable[[str], None] | None], t0: float, turn: _Turn
    ) -> Answer:
        """Decide and answer; ``mode_then_text(mode)`` announces the mode and gives the text callback."""
        lang = self._lang(question)
        norm = self.analyzer.normalize(question)
        timings: dict[str, float] = {}

        def scripted(
            text: str, mode: str, reason: str | None = None, sources: Sequence[Source] = (), intent: str | None = None
        ) -> Answer:
            on_text = mode_then_text(mode)
            if on_text:
                on_text(text)
            return Answer(question, text, mode, "scripted", list(sources), timings, lang, None, reason, intent=intent)

        if not norm:
            return scripted(self.scripts.text("empty", lang), "no_answer", "empty")

        assessment = self.triage.assess(norm)
        timings["triage"] = (time.perf_counter() - t0) * 1e3
        if assessment is not None and (assessment.level == "alarm" or not turn.safe):
            return self._emergency(question, lang, assessment, timings, mode_then_text)

        small = self.triage.small_talk(norm)
        if small is not None:
            return scripted(self.scripts.text(small, lang), "answer", intent=small)
        if self.triage.is_out_of_scope(norm):
            return scripted(self.scripts.text("out_of_scope", lang), "no_answer", "out_of_scope")

        handoff = self.triage.handoff(norm)
        timings["triage"] = (time.perf_counter() - t0) * 1e3
        if handoff is not None:
            text = self.scripts.handoff(handoff.id, lang)
            # The journal keeps a number given for a callback (with the same redactor): say so.
            callback = (self.journal.redact if self.journal is not None else Redactor()).callback_number(question)
            if callback is not None:
                text += " " + self.scripts.text("handoff_callback", lang, last4=callback[-4:])
            response = self.retriever.search(question, k=1)
            related = []
            if response.top and response.confidence >= self.settings.min_confidence:
                related = [_source(response.top, response.top.section)]
                title = response.top.doc.title
                text += " " + (f"Related guide: “{title}”." if lang == "en" else f"相关指南：《{title}》。")
            return scripted(text, "handoff", handoff.id, related)

        t1 = time.perf_counter()
        if turn.topic is not None:
            response = self.retriever.focus(question, turn.topic)
        else:
            search_text, response = turn.query, None
            if turn.resolve is not None:
                search_text, response = turn.resolve(question)
            if response is None:
                response = self.retriever.search(search_text or question, k=self.settings.top_k)
        timings["retrieval"] = (time.perf_counter() - t1) * 1e3
        mode, why = decide_mode(response, self.settings, self.triage, norm)  # a chosen topic has confidence 1
        if why == "out_of_scope":
            return scripted(self.scripts.text("out_of_scope", lang), "no_answer", "out_of_scope")
        if mode == "no_answer":
            return self._no_answer(question, lang, response, timings, mode_then_text("no_answer"))
        if mode == "clarify":
            return self._clarify(question, lang, response, timings, mode_then_text("clarify"))

        on_text = mode_then_text("answer")
        answer = None
        t = time.perf_counter()
        extract = self._extract(question, lang, response)
        timings["compose"] = (time.perf_counter() - t) * 1e3
        if self.llm is not None:
            answer = self._llm_answer(question, lang, response, timings, on_text, turn, extract)
            if answer is not None and answer.reason == "cancelled":
                return answer
        if answer is None or not answer.answer:
            reason = answer.reason if answer is not None else None
            answer = self._extractive_answer(
                question, lang, response, timings, on_text, speech=turn.speech, extract=extract
            )
            answer.reason = reason
        if turn.topic is not None and answer.reason is None:
            answer.reason = "clarified"
        return answer

    def _emergency(self, question, lang, assessment: Assessment, timings, mode_then_text) -> Answer:
        """The emergency guidance (an alarm), or the "are you in danger?" check with the numbers."""
        category = assessment.category
        on_text = mode_then_text("emergency")
        if assessment.level == "alarm":
            text, reason, options = self.scripts.emergency(category, lang), category.id, []
        else:
            text = self.scripts.emergency_check(category, lang)
            reason, options = f"check:{category.id}", self.scripts.options("check_options", lang)
        if on_text:
            on_text(text)
        return Answer(question, text, "emergency", "scripted", [], timings, lang, None, reason, options)

    def _clarify(self, question, lang, response: SearchResponse, timings, on_text) -> Answer:
        """Between sure and nothing: ask which of the top topics the resident means."""
        offered = clarify_offers(response)
        titles = [r.doc.title for r in offered]
        quote = (lambda t: f"“{t}”") if lang == "en" else (lambda t: f"《{t}》")
        if len(titles) == 1:
            text = self.scripts.text("clarify_one", lang, first=quote(titles[0]))
        else:
            sep = ", " if lang == "en" else "、"
            text = self.scripts.text(
                "clarify_many", lang, first=quote(titles[0]), others=sep.join(quote(t) for t in titles[1:])
            )
        if on_text:
            on_text(text)
        return Answer(
            question,
            text,
            "clarify",
            "scripted",
            [],
            timings,
            lang,
            response.confidence,
            "clarify",
            titles,
            offered=[(r.doc.doc_id, r.doc.title) for r in offered],
        )

    def _no_answer(self, question, lang, response: SearchResponse, timings, on_text) -> Answer:
        # topics in the resident's language only: an English voice cannot say a Chinese title
        # (the round trip of `kiosk bench voice` heard nothing of one)
        closest = [r.doc.title for r in response.results if r.doc.lang == lang][:3]
        text = self.scripts.text("no_answer", lang)
        if closest:
            sep = ", " if lang == "en" else "、"
            quoted = sep.join(f"“{t}”" if lang == "en" else f"《{t}》" for t in closest)
            text += " " + self.scripts.text("no_answer_closest", lang, closest=quoted)
        if on_text:
            on_text(text)
        return Answer(
            question, text, "no_answer", "scripted", [], timings, lang, response.confidence, "low_confidence", closest
        )

    def _extract(self, question: str, lang: str, response: SearchResponse) -> Extract:
        """The extractive composer's answer from the top document: what the question asks, whole."""
        top = response.top
        assert top is not None
        sections = [c for c in self.retriever.kb.doc_chunks(top.doc.doc_id) if not c.is_question]
        return self.extractive.answer(question, lang, top.doc, sections, top.section)

    def _extractive_answer(
        self, question, lang, response: SearchResponse, timings, on_text, *, speech: bool, extract: Extract
    ) -> Answer:
        top = response.top
        assert top is not None
        text = extract.text + " " + self.scripts.text("source_line", lang, title=top.doc.title)
        if on_text:
            on_text(extract.spoken if speech and extract.spoken else text)
        sources = [_source(top, c) for c in extract.sections]
        return Answer(
            question,
            text,
            "answer",
            "extractive",
            sources,
            timings,
            lang,
            response.confidence,
            spoken=extract.spoken or None,
        )

    def prompt_sources(self, response: SearchResponse, extract: Extract) -> list[_Prompted]:
        """What the LLM prompt quotes, in order, before the token budget (see
        :func:`~appliance.answer.generative.fit_sources`): the top document's lines that answer
        the question (``extract``, the extractive composer's selection: whole items and steps),
        then the best section of each runner-up scoring at least
        :data:`RUNNER_UP_SHARE` of the top, up to ``retrieval.llm_sections`` sources."""
        top = response.top
        assert top is not None
        heading = " / ".join(dict.fromkeys(c.heading_path[-1] for c in extract.sections if c.heading_path[-1]))
        first = _Prompted(top, tuple(extract.sections) or (top.section,), heading, extract.text)
        chosen = [first]
        for other in response.results[1:]:
            if len(chosen) >= self.settings.llm_sections:
                break
            if other.score >= RUNNER_UP_SHARE * top.score and other.doc.doc_id != top.doc.doc_id:
                chosen.append(_Prompted(other, (other.section,), other.section.heading_path[-1], other.section.text))
        return chosen

    def _llm_answer(
        self, question, lang, response: SearchResponse, timings, on_text, turn: _Turn, extract: Extract
    ) -> Answer | None:
        assert self.llm is not None
        t = time.perf_counter()
        chosen = self.prompt_sources(response, extract)
        count = getattr(self.llm, "count_tokens", None) or estimate_tokens
        prompt_sources = fit_sources(
            question,
            lang,
            [PromptSource(i, p.result.doc.title, p.heading, p.text) for i, p in enumerate(chosen, start=1)],
            self.llm_settings.prompt_tokens,
            count,
        )
        s = self.site
        allowed = "\n".join(
            [
                question,
                s.duty_phone,
                s.property_hotline,
                s.office_hours,
                s.address,
                *(v for v in s.emergency.model_dump().values() if v),
                *(p.text for p in prompt_sources),
            ]
        )
        labels = [
            x
            for p in chosen[: len(prompt_sources)]
            for x in (p.result.doc.title, *(c.heading_path[-1] for c in p.chunks))
        ]
        gate = GroundingGate(len(prompt_sources), allowed, labels=labels, sources=[p.text for p in prompt_sources])
        messages = build_messages(question, lang, s, prompt_sources, turn.history)
        timings["prompt"] = (time.perf_counter() - t) * 1e3
        try:
            result = generate(
                self.llm,
                messages,
                gate,
                max_tokens=self.llm_settings.max_tokens,
                temperature=self.llm_settings.temperature,
                on_text=on_text,
                cancelled=turn.cancelled,
            )
        except Exception as exc:
            log.exception("LLM generation failed; answering extractively")
            return Answer(question, "", "answer", "llm", [], timings, lang, response.confidence, f"llm_error: {exc}")
        timings["llm_first_token"] = result.first_token_ms or 0.0
        timings["llm"] = result.total_ms

        def sources() -> list[Source]:
            return [_source(chosen[n - 1].result, c) for n in result.cited for c in chosen[n - 1].chunks]

        if result.rejected == "cancelled":
            return Answer(
                question, result.text, "answer", "llm", sources(), timings, lang, response.confidence, "cancelled"
            )
        if not result.text:
            redact = self.journal.redact if self.journal is not None else Redactor()  # it may echo the resident
            log.info("LLM answer not shown (%s): %r", result.rejected, redact(result.raw[:200]))
            return Answer(
                question, "", "answer", "llm", [], timings, lang, response.confidence, _refusal(result.rejected)
            )
        text = result.text
        if result.rejected:
            tail = " " + self.scripts.text("llm_cut", lang, title=response.top.doc.title)
            text += tail
            if on_text:
                on_text(tail)
        reason = f"llm_cut: {result.rejected}" if result.rejected else None
        return Answer(question, text, "answer", "llm", sources(), timings, lang, response.confidence, reason)


def _refusal(rejected: str | None) -> str:
    """The answer reason for an LLM answer of which nothing was shown."""
    if rejected and "citation" in rejected:
        return "llm_uncited"
    if rejected == "copies its sources":
        return "llm_copied"
    if rejected == "says nothing":
        return "llm_empty"
    return "llm_unsupported_number"


def _beating(on_text: Callable[[str], None], activity: Heartbeat) -> Callable[[str], None]:
    """``on_text`` that first records the answer worker's progress (a sentence is out)."""

    def beat_then_pass(text: str) -> None:
        activity.beat()
        on_text(text)

    return beat_then_pass
