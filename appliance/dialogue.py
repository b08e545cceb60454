"""A resident's session: a short dialogue history, follow-ups, and when the session ends.

Residents ask in pieces: "社保卡丢了怎么办" … "那要带什么材料" … "在哪办". The second and third
questions name no service; searched alone, they match whichever guide talks most about materials.
A :class:`Session` remembers the guide the last answer came from (the *topic*) and, when a
question looks like a follow-up, searches with the topic's title prepended, keeping that reading
only when it retrieves confidently. Triage (emergencies, handoffs) always reads the question
itself, never the completed one.

The history given to the LLM holds only what the resident heard: when an answer was interrupted
(barge-in), its unspoken rest is not in the history, so "刚才说到哪了" continues from what was
actually said.

A session ends after ``timeout_s`` without a turn (the resident has walked away) or after a
goodbye; the next question starts a new one with no topic.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.answer.engine import AnswerEngine
from appliance.answer.types import Answer

# A question that opens with one of these, or is very short, leans on what was said before.
FOLLOW_UP = re.compile(
    r"^(那|那么|那个|这个|这|它|还|还要|还需要|另外|要带|要交|需要|在哪|去哪|什么时候|几点|多少钱|多久|怎么|办理|"
    r"and\b|what about|how about|where\b|when\b|how long|how much|what do i need|do i need)",
    re.IGNORECASE,
)
SHORT_QUESTION_CHARS = 10


@dataclass
class Exchange:
    """One turn as the resident experienced it.

    Attributes:
        heard: the part of the answer that was spoken (or shown) before any interruption.
        topic: (doc_id, title) of the guide the answer came from, None for other answers.
    """

    question: str
    heard: str
    mode: str
    topic: tuple[str, str] | None


@dataclass
class Session:
    """One resident's conversation.

    Args:
        engine: the answer engine.
        timeout_s: silence after which the session ends, seconds.
        history_turns: exchanges given to the LLM as history.
        clock: time source (``time.monotonic``; tests pass their own).
    """

    engine: AnswerEngine
    timeout_s: float = 45.0
    history_turns: int = 3
    clock: Callable[[], float] = time.monotonic
    exchanges: list[Exchange] = field(default_factory=list)
    last_activity: float | None = None
    ended: bool = False
    number: int = 1

    @property
    def topic(self) -> tuple[str, str] | None:
        """(doc_id, title) of the guide the conversation is about, if any."""
        for ex in reversed(self.exchanges):
            if ex.topic is not None:
                return ex.topic
            if ex.mode in ("emergency", "handoff"):
                return None
        return None

    def expired(self) -> bool:
        """True when the session has timed out or ended with a goodbye."""
        if self.ended:
            return True
        return self.last_activity is not None and self.clock() - self.last_activity > self.timeout_s

    def restart_if_expired(self) -> bool:
        """Start a fresh session when this one has expired; True when it did."""
        if not self.expired():
            return False
        self.exchanges.clear()
        self.last_activity = None
        self.ended = False
        self.number += 1
        return True

    def end(self) -> int | None:
        """End the session now (the resident is done) and start a fresh one.

        Returns:
            The ended session's number, or None when nothing had been said in it.
        """
        if self.last_activity is None and not self.exchanges:
            return None
        number = self.number
        self.ended = True
        self.restart_if_expired()
        return number

    def history(self) -> list[dict[str, str]]:
        """The last exchanges as chat messages (only what was heard)."""
        out: list[dict[str, str]] = []
        for ex in self.exchanges[-self.history_turns :]:
            if ex.heard:
                out += [{"role": "user", "content": ex.question}, {"role": "assistant", "content": ex.heard}]
        return out

    def is_follow_up(self, question: str) -> bool:
        """Does the question lean on the previous one (a follow-up marker, or very short)?"""
        q = question.strip()
        return bool(FOLLOW_UP.match(q)) or len(q) <= SHORT_QUESTION_CHARS and not q.isascii()

    def resolve(self, question: str) -> str | None:
        """The retrieval query for a follow-up: the topic's title plus the question, or None.

        The completed query is used only when it retrieves the topic's guide with confidence and
        the question alone does not point at a different guide: one it finds confidently, or one
        whose title contains a word of the question ("那居住证呢" after a question about the social
        security card is a new topic, 居住证).
        """
        topic = self.topic
        if topic is None or not self.is_follow_up(question):
            return None
        retriever, threshold = self.engine.retriever, self.engine.settings.min_confidence
        doc_id, title = topic
        alone = retriever.search(question, k=1)
        if alone.top is not None and alone.confidence >= threshold:
            return None  # the question finds its guide by itself (the topic's or a new one)
        if alone.top is not None and alone.top.doc.doc_id != doc_id:
            analyzer = self.engine.analyzer
            other_title = analyzer.expand(alone.top.doc.title)
            if any(len(w) >= 2 and w in other_title for w in analyzer.query_terms(question)):
                return None
        combined = retriever.search(f"{title} {question}", k=1)
        if combined.top is None or combined.top.doc.doc_id != doc_id or combined.confidence < threshold:
            return None
        return f"{title} {question}"

    def ask(self, question: str, **kwargs) -> tuple[Answer, str | None]:
        """Answer a question within the session.

        Keyword arguments go to :meth:`AnswerEngine.ask` (on_text, on_mode, cancelled, record).

        Returns:
            (answer, query): ``query`` is the completed follow-up query used, None when the
            question was searched as it was. Call :meth:`add` with what was heard afterwards.
        """
        self.restart_if_expired()
        query = self.resolve(question)
        answer = self.engine.ask(question, query=query, history=self.history(), **kwargs)
        return answer, query

    def add(self, answer: Answer, heard: str) -> None:
        """Record a finished turn: ``heard`` is what the resident heard of it (all of it, unless
        interrupted)."""
        topic = None
        if answer.mode == "answer" and answer.sources:
            topic = (answer.sources[0].doc_id, answer.sources[0].title)
        self.exchanges.append(Exchange(answer.question, heard, answer.mode, topic))
        self.last_activity = self.clock()
        if answer.reason == "goodbye":
            self.ended = True
