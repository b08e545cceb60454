"""A resident's session: a short dialogue history, follow-ups, clarifications, and when it ends.

Residents ask in pieces: "社保卡丢了怎么办" … "那要带什么材料" … "在哪办". The second and third
questions name no service; searched alone, they match whichever guide talks most about materials.
A :class:`Session` remembers the guide the last answer came from (the *topic*) and, when a
question looks like a follow-up, searches with the topic's title prepended, keeping that reading
only when it retrieves confidently. Triage (emergencies, handoffs) always reads the question
itself, and runs before any of this: the resolution is handed to the engine, which calls it only
once triage has let the question through (an emergency never waits for a search), and its search
is reused rather than run again.

Two kinds of turn wait for the resident's reply:

* a **clarification** ("您是想问《养犬登记》吗？"): "是"/"对"/"yes" answers the original question
  from the first topic offered, a topic's name (or "第二个") from that topic, "不是"/"no" gets an
  honest no-answer with the staff's contact; anything else is a new question;
* an **emergency check** ("您现在有危险吗？"): "有危险"/"是"/"yes" gives the full emergency
  guidance and raises the alarm; "没有危险"/"不是"/"no" answers the original question as a normal
  one; anything else is a new question (and is triaged again).

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
from appliance.config import ConversationSettings
from appliance.knowledge.confidence import char_bigrams, dice
from appliance.knowledge.retrieval import SearchResponse

# A question that opens with one of these, or is very short, leans on what was said before.
FOLLOW_UP = re.compile(
    r"^(那|那么|那个|这个|这|它|还|还要|还需要|另外|要带|要交|需要|在哪|去哪|什么时候|几点|多少钱|多久|怎么|办理|"
    r"and\b|what about|how about|where\b|when\b|how long|how much|what do i need|do i need)",
    re.IGNORECASE,
)
SHORT_QUESTION_CHARS = 10

# Replies to a yes/no question ("您是想问…吗？", "您现在有危险吗？"), matched on the whole reply
# (normalised, punctuation dropped). No is tested first: "没有危险" contains "有危险".
_NO = re.compile(
    r"^(不是|不对|不|没有|没|没事|没有危险|没危险|不危险|我没事|我很安全|安全|不用|不要|都不是|错了|no|nope|"
    r"no thanks|not that|neither|none|i am safe|im safe|i am fine|im fine|i am ok|im ok|we are safe|safe)"
    r"(的|了|啊|呀|吧|呢|哦|没有|危险)*$"
)
_YES = re.compile(
    r"^(是|是的|是啊|对|对的|对啊|嗯|嗯嗯|有|有危险|危险|很危险|好|好的|行|可以|没错|就是|就是这个|是这个|yes|yeah|yep|"
    r"right|correct|that one|yes please|i am in danger|im in danger|help|help me|救命)(的|了|啊|呀|吧|呢|哦)*$"
)
# Words around a topic's name in a reply ("独生子女的那个", "我问的是高龄津贴").
_FILLER = re.compile(r"(我想问的?是|我问的?是|我要问|就是|关于|的那个|那个|这个|的那项|那项|吧|呢|啊|呀)")
_ORDINALS = (
    re.compile(r"^(第一|第1|头一|the first|first)(个|项|条)?(one)?$"),
    re.compile(r"^(第二|第2|the second|second)(个|项|条)?(one)?$"),
    re.compile(r"^(第三|第3|the third|third)(个|项|条)?(one)?$"),
)
_PUNCT = re.compile(r"[\s\W_]+")


def reply_kind(normalized: str) -> str | None:
    """'yes', 'no' or None for a reply to a yes/no question (normalised text, see
    :meth:`~appliance.knowledge.text.Analyzer.normalize`)."""
    text = _PUNCT.sub(" ", normalized.replace("'", "").replace("’", "")).strip()
    squeezed = text.replace(" ", "") if not text.isascii() else text
    if _NO.match(squeezed):
        return "no"
    if _YES.match(squeezed):
        return "yes"
    return None


def chosen_topic(normalized: str, offered: list[tuple[str, str]], normalize: Callable[[str], str]) -> int | None:
    """Which offered topic a reply names: by ordinal ("第二个"), by its title (tapped, or said in
    part: "养犬的那个"), or None.

    Args:
        normalized: the normalised reply.
        offered: (doc_id, title) of the topics asked about.
        normalize: the analyzer's normalisation, for the titles.
    """
    text = _FILLER.sub("", _PUNCT.sub("", normalized))
    for i, pattern in enumerate(_ORDINALS):
        if i < len(offered) and pattern.match(_PUNCT.sub(" ", normalized).strip()):
            return i
    best, best_sim = None, 0.0
    grams = char_bigrams(text)
    for i, (_, title) in enumerate(offered):
        t = _PUNCT.sub("", normalize(title))
        if len(text) >= 2 and (text in t or t in text):
            return i
        sim = dice(grams, char_bigrams(t))
        if sim > best_sim:
            best, best_sim = i, sim
    return best if best_sim >= 0.5 else None


@dataclass
class Exchange:
    """One turn as the resident experienced it.

    Attributes:
        question: what was asked; for a clarification or a check, what a "yes" or "no" answers.
        heard: the part of the answer that was spoken (or shown) before any interruption.
        topic: (doc_id, title) of the guide the answer came from, None for other answers.
        offered: (doc_id, title) of the topics a clarification asked about.
        check: the emergency category of an "are you in danger?" check.
    """

    question: str
    heard: str
    mode: str
    topic: tuple[str, str] | None
    offered: tuple[tuple[str, str], ...] = ()
    check: str | None = None


@dataclass
class Session:
    """One resident's conversation.

    Args:
        engine: the answer engine.
        timeout_s: silence after which the session ends, seconds (default: ``[conversation]
            session_timeout_s``'s).
        history_turns: exchanges given to the LLM as history (default: ``[conversation]
            history_turns``').
        clock: time source (``time.monotonic``; tests pass their own).
    """

    engine: AnswerEngine
    timeout_s: float = ConversationSettings.model_fields["session_timeout_s"].default
    history_turns: int = ConversationSettings.model_fields["history_turns"].default
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

    def resolve(self, question: str) -> tuple[str | None, SearchResponse | None]:
        """The retrieval query for a follow-up: (the topic's title plus the question, or None for
        the question itself; the search response for it when one was run, to be reused).

        The completed query is used only when it retrieves the topic's guide with confidence and
        the question alone does not point at a different guide: one it finds confidently, or one
        whose title contains a word of the question ("那居住证呢" after a question about the social
        security card is a new topic, 居住证). This is a :data:`~appliance.answer.engine.Resolver`.
        """
        topic = self.topic
        if topic is None or not self.is_follow_up(question):
            return None, None
        retriever, settings = self.engine.retriever, self.engine.settings
        doc_id, title = topic
        alone = retriever.search(question, k=settings.top_k)
        if alone.top is not None and alone.confidence >= settings.min_confidence:
            return None, alone  # the question finds its guide by itself (the topic's or a new one)
        if alone.top is not None and alone.top.doc.doc_id != doc_id:
            analyzer = self.engine.analyzer
            other_title = analyzer.expand(alone.top.doc.title)
            if any(len(w) >= 2 and w in other_title for w in analyzer.query_terms(question)):
                return None, alone
        combined = retriever.search(f"{title} {question}", k=settings.top_k)
        if combined.top is None or combined.top.doc.doc_id != doc_id or combined.confidence < settings.min_confidence:
            return None, alone
        return f"{title} {question}", combined

    def _pending(self) -> Exchange | None:
        """The last exchange when it asked the resident something (a clarification or a check)."""
        if not self.exchanges:
            return None
        last = self.exchanges[-1]
        return last if last.offered or last.check else None

    def ask(self, question: str, **kwargs) -> tuple[Answer, str | None]:
        """Answer a question within the session.

        Keyword arguments go to :meth:`AnswerEngine.ask` (on_text, on_mode, cancelled, record,
        speech).

        Returns:
            (answer, query): ``query`` is the completed follow-up query used, None when the
            question was searched as it was. Call :meth:`add` with what was heard afterwards.
        """
        if self.restart_if_expired() or (not self.exchanges and self.last_activity is None):
            self.engine.between_conversations()  # a new conversation: a synced knowledge base may take over
        pending = self._pending()
        if pending is not None:
            replied = self._reply(pending, question, kwargs)
            if replied is not None:
                return replied, None
        used: list[str | None] = [None]

        def resolve(q: str) -> tuple[str | None, SearchResponse | None]:
            used[0], response = self.resolve(q)
            return used[0], response

        answer = self.engine.ask(question, resolve=resolve, history=self.history(), **kwargs)
        return answer, used[0]

    def _reply(self, pending: Exchange, question: str, kwargs: dict) -> Answer | None:
        """The answer to a reply to a clarification or a check, or None when it is a new question."""
        engine = self.engine
        norm = engine.analyzer.normalize(question)
        kind = reply_kind(norm)
        if pending.check is not None:
            if kind == "yes":
                return engine.confirm_emergency(question, pending.check, **kwargs)
            if kind == "no":
                return engine.ask(pending.question, history=self.history(), safe=True, **kwargs)
            return None
        if kind is None and engine.triage.assess(norm) is not None:
            return None  # a reply that names a danger is a new question for triage, whatever it matches
        offered = list(pending.offered)
        choice = 0 if kind == "yes" else chosen_topic(norm, offered, engine.analyzer.normalize)
        if choice is not None:
            return engine.ask(pending.question, topic=offered[choice][0], history=self.history(), **kwargs)
        if kind == "no":
            return engine.declined(pending.question, [t for _, t in offered], **kwargs)
        return None

    def add(self, answer: Answer, heard: str) -> None:
        """Record a finished turn: ``heard`` is what the resident heard of it (all of it, unless
        interrupted)."""
        topic = None
        if answer.mode == "answer" and answer.sources:
            topic = (answer.sources[0].doc_id, answer.sources[0].title)
        check = answer.checked_category
        offered = tuple(answer.offered) if answer.mode == "clarify" else ()
        self.exchanges.append(Exchange(answer.question, heard, answer.mode, topic, offered, check))
        self.last_activity = self.clock()
        if answer.intent == "goodbye":
            self.ended = True
