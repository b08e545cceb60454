"""LLM answers grounded in retrieved sections, released sentence by sentence through a gate.

The prompt gives the model numbered sources (the sentences of the guide that answer the question,
chosen by the extractive composer, within a token budget, see :func:`fit_sources`) and asks for a
short, speakable answer in the question's language that cites them as ``[n]``. The model's own
chat template (from its GGUF metadata) formats the conversation; tokens are streamed.

Nothing the model writes reaches the resident unchecked. :class:`GroundingGate` holds complete
sentences until the answer has cited a retrieved source (with "[n]", or by writing a sentence
most of whose word pairs are in one, see :func:`supporting_source`), and refuses any sentence with a number
(an amount, a phone number, a day count) that appears in neither the sources, the site profile nor
the question: small models invent numbers more readily than anything else, and a wrong phone
number or fee is the most harmful thing a kiosk can say. A sentence that only names a source (its
title or a heading, "[1] 《老年人优待证办理》 — 办理流程") says nothing and is dropped; an answer
that mostly copies its sources is refused (the extractive answer quotes them better); the answer stops after :data:`MAX_SENTENCES` sentences. Citations travel as metadata
(:attr:`GroundingGate.cited`): the released text has no "[1]" to be read out. An answer that ends
without a cited sentence is discarded whole, and the engine falls back to the extractive answer.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from appliance.site import Site

CITATION = re.compile(r"[\[【［]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】］]")
#: A generated sentence: up to a full stop, semicolon, question or exclamation mark or line end;
#: the full stop of a list number ("步骤：1. ") is not an end.
_SENTENCE = re.compile(r".*?(?:[。！？!?；;\n]|(?<!\D\d)(?<!^\d)\.(?=\s)|\.$)", re.S)
_NUMBER = re.compile(r"\d[\d\-\s:：.]*\d|\d")


class ChatModel(Protocol):
    """What the answer engine needs from a chat LLM (see ``models.llm.LlamaChatModel``)."""

    name: str

    def stream_chat(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> Iterator[str]:
        """Yield the assistant reply's text pieces as they are generated."""
        ...


@dataclass(frozen=True)
class PromptSource:
    """A numbered source in the prompt."""

    number: int
    title: str
    heading: str
    text: str


SYSTEM_ZH = (
    "你是{assistant}，在{site}大厅为居民解答办事问题的人工智能助手（不是真人）。\n"
    "规则：\n"
    "1. 只根据【资料】回答，不要编造资料里没有的政策、金额、电话、地点或时间。\n"
    "2. 资料不足以回答时，直接说不清楚，请居民咨询工作人员（电话 {duty_phone}）。\n"
    "3. 用口语、简短回答，最多三句话，适合朗读；不要用列表、标题或 markdown。\n"
    "4. 在用到资料的句子末尾标出处编号，例如[1]。\n"
    "5. 用中文回答。"
)
SYSTEM_EN = (
    "You are {assistant}, an AI assistant (not a person) answering residents' questions in the lobby of "
    "{site}.\nRules:\n"
    "1. Answer only from the [Sources]. Never invent a policy, amount, phone number, place or time.\n"
    "2. If the sources are not enough, say so and suggest asking the staff (phone {duty_phone}).\n"
    "3. Be brief and conversational, at most three sentences, easy to read aloud; no lists, headings or markdown.\n"
    "4. End each sentence that uses a source with its number, like [1].\n"
    "5. Answer in English, even when the sources are in Chinese."
)


def _block(source: PromptSource) -> str:
    heading = f" — {source.heading}" if source.heading and source.heading != source.title else ""
    return f"[{source.number}] 《{source.title}》{heading}\n{source.text.strip()}"


def _user_message(question: str, lang: str, sources: Sequence[PromptSource]) -> str:
    blocks = "\n\n".join(_block(s) for s in sources)
    if lang == "en":
        return "[Sources]\n" + blocks + f"\n\n[Question]\n{question}"
    return "【资料】\n" + blocks + f"\n\n【问题】\n{question}"


def system_prompt(lang: str, site: Site) -> str:
    """The fixed system prompt for ``lang`` ("zh" or "en") at ``site``: the same text on every turn,
    so that the model runtime computes its KV state once (see ``models.llm.LlamaChatModel``)."""
    return (SYSTEM_EN if lang == "en" else SYSTEM_ZH).format(
        assistant=site.assistant_name_en if lang == "en" else site.assistant_name,
        site=site.text("name", lang),
        duty_phone=site.duty_phone,
    )


def build_messages(
    question: str, lang: str, site: Site, sources: Sequence[PromptSource], history: Sequence[dict[str, str]] = ()
) -> list[dict[str, str]]:
    """Chat messages: system rules, earlier turns (if any), then sources and the question.

    Returns:
        A list of ``{"role", "content"}`` dicts for the model's chat template.
    """
    user = _user_message(question, lang, sources)
    return [{"role": "system", "content": system_prompt(lang, site)}, *history, {"role": "user", "content": user}]


def _split_sentences(text: str) -> list[str]:
    """``text`` as consecutive sentences (:data:`_SENTENCE`) and the unfinished rest; joined they
    give ``text`` back exactly, line breaks included."""
    pieces = [m.group() for m in _SENTENCE.finditer(text) if m.group()]
    rest = text[sum(map(len, pieces)) :]
    return [*pieces, rest] if rest else pieces


def estimate_tokens(text: str) -> int:
    """A rough token count for a model that cannot count its own: one per Chinese character,
    1.3 per English word or number, one per two other symbols. Measured against Qwen2.5's
    tokeniser on the demo guides (markdown included): 1.14 times its count for the Chinese ones
    (it gives 1.03 tokens a Chinese character), 0.97 times for the English ones."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(text))
    other = len(re.sub(r"[\u3400-\u9fffA-Za-z0-9\s]", "", text))
    return cjk + math.ceil(1.3 * words) + other // 2


def fit_sources(
    question: str,
    lang: str,
    sources: Sequence[PromptSource],
    budget: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> list[PromptSource]:
    """The sources, in order, cut to whole sentences so that the user message (sources and
    question, the part of the prompt computed anew each turn) takes at most ``budget`` tokens.

    A sentence is never cut: a source keeps its sentences up to the first that does not fit and a
    source with none left is dropped, except that the first source always keeps its first sentence.

    Args:
        count_tokens: the model's tokeniser (e.g. ``LlamaChatModel.count_tokens``), else an estimate.

    Returns:
        New :class:`PromptSource` objects, numbered 1.. in order.
    """
    kept: list[PromptSource] = []
    for source in sources:
        text = ""
        for piece in _split_sentences(source.text.strip()):
            trial = PromptSource(len(kept) + 1, source.title, source.heading, text + piece)
            if count_tokens(_user_message(question, lang, [*kept, trial])) > budget and (kept or text):
                break
            text += piece
        if not text.strip():
            break
        kept.append(PromptSource(len(kept) + 1, source.title, source.heading, text.strip()))
        if len(text) < len(source.text.strip()):
            break
    return kept


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


#: Releases an answer may have: the issue's "1–3 short spoken sentences" (a release is one
#: sentence, the first one also those held before the first citation). Generation stops after the
#: last one, which also bounds the time the model runs.
MAX_SENTENCES = 3
#: A sentence with fewer content characters than this (Chinese; English: words), once source
#: titles, headings, citations and punctuation are taken out, says nothing.
MIN_CONTENT_CHARS = 4
MIN_CONTENT_WORDS = 3
#: A sentence is refused when, with what was released before it, at least this share of the
#: answer is copied from the sources (see :func:`copied_share`) and the answer is at least
#: :data:`COPY_MIN_CHARS` units long: the extractive answer quotes the guide with its structure
#: kept, which a copy without it does worse.
COPY_SHARE = 0.75
COPY_MIN_CHARS = 16
#: Copy windows: runs of this many Chinese characters, or of this many English words, that occur
#: in the sources count as copied.
COPY_WINDOW_CHARS = 8
COPY_WINDOW_WORDS = 5

_PUNCT = re.compile(r"[\s\W_]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+")


def _plain(text: str) -> str:
    """Lower-cased ``text`` with each run of spaces and punctuation one space, padded with spaces."""
    return " " + _PUNCT.sub(" ", text.lower()).strip() + " "


def strip_citations(text: str) -> str:
    """``text`` without its "[1]" / "【2】" / "［1，3］" markers and the space before them."""
    return re.sub(r"\s*" + CITATION.pattern, "", text)


_MARKUP = re.compile(r"\*\*|__|`|^[ \t]*#+[ \t]*|^[ \t]*[-*•][ \t]+", re.M)


def speakable(text: str) -> str:
    """``text`` as the resident gets it: no citation markers, no markdown (``**``, ``#``, bullets)."""
    return _MARKUP.sub("", strip_citations(text))


@lru_cache(maxsize=256)
def _units(text: str) -> tuple[str, ...]:
    """Copy units of ``text``: its Chinese characters and lower-cased English words and numbers, in
    order. Cached: the gate reads the same sources for every sentence of an answer."""
    return tuple(re.findall(r"[\u3400-\u9fff]|[A-Za-z0-9]+", text.lower()))


def copied_share(text: str, sources: Sequence[str]) -> float:
    """The share of ``text``'s units (Chinese characters, English words) inside a window of
    :data:`COPY_WINDOW_CHARS` characters (or :data:`COPY_WINDOW_WORDS` words) that occurs verbatim
    in ``sources``; 0.0 for text shorter than one window. In [0, 1]."""
    units = _units(text)
    cjk = sum(1 for u in units if _CJK.fullmatch(u))
    n = COPY_WINDOW_CHARS if cjk * 2 >= len(units) else COPY_WINDOW_WORDS
    if len(units) < n:
        return 0.0
    grams = set()
    for source in sources:
        su = _units(source)
        grams.update(tuple(su[i : i + n]) for i in range(len(su) - n + 1))
    covered = [False] * len(units)
    for i in range(len(units) - n + 1):
        if tuple(units[i : i + n]) in grams:
            covered[i : i + n] = [True] * n
    return sum(covered) / len(units)


#: A sentence without a citation marker is attributed to the source holding at least this share
#: of its unit bigrams (Chinese character pairs, English word pairs; see :func:`support`): small
#: models often answer from their one source without writing "[1]".
SUPPORT_SHARE = 0.6


def support(text: str, source: str) -> float:
    """The share of ``text``'s unit bigrams (consecutive Chinese characters or English words and
    numbers, see :func:`copied_share`) that occur in ``source``; 0.0 for fewer than two units."""
    units = _units(text)
    pairs = list(zip(units, units[1:], strict=False))
    if not pairs:
        return 0.0
    su = _units(source)
    have = set(zip(su, su[1:], strict=False))
    return sum(p in have for p in pairs) / len(pairs)


def supporting_source(text: str, sources: Sequence[str]) -> int | None:
    """The number (1-based) of the source that supports ``text`` most, if it holds at least
    :data:`SUPPORT_SHARE` of its bigrams; else None."""
    if not sources:
        return None
    scores = [support(text, s) for s in sources]
    best = max(range(len(scores)), key=scores.__getitem__)
    return best + 1 if scores[best] >= SUPPORT_SHARE else None


#: A source's own labels ("办理步骤：", "需要带：", "Steps:"): a short phrase before a colon at the
#: start of a line or clause. A sentence of labels only says nothing.
_LABEL = re.compile(r"(?:^|[\n；;。“”：:])[ \t]*([^\n：:；;。“”]{1,10})[：:]")
#: Words that introduce without saying anything ("关于…：", "about …:").
_FILLERS = frozenset({"关于", "about", "regarding"})


class GroundingGate:
    """Releases an LLM's streamed text only when it is cited, grounded and says something.

    Feed text pieces with :meth:`feed`; it returns the text that may be shown and spoken now
    (whole sentences, citation markers removed). Call :meth:`finish` at the end of the stream for
    the rest. :attr:`done` turns true after :data:`MAX_SENTENCES` released sentences (stop the
    model); :attr:`rejected` says why the rest was refused.

    Args:
        n_sources: valid citation numbers are 1..n_sources.
        allowed_text: text whose numbers may be repeated (sources, site profile, question).
        labels: the sources' titles and headings: a sentence that only names them says nothing.
        sources: the sources' texts, for the copy check and for attributing a sentence written
            without a citation marker to the source that supports it (:func:`supporting_source`);
            none: neither.
        max_sentences: releases at most (see :attr:`done`).
    """

    def __init__(
        self,
        n_sources: int,
        allowed_text: str,
        *,
        labels: Sequence[str] = (),
        sources: Sequence[str] = (),
        max_sentences: int = MAX_SENTENCES,
    ):
        self.n_sources = n_sources
        self._allowed_digits = _digits(allowed_text)
        self._allowed_numbers = {_digits(m.group()) for m in _NUMBER.finditer(allowed_text)}
        named = [*labels, *(m.group(1) for text in sources for m in _LABEL.finditer(text))]
        self._labels = sorted({_plain(x).strip() for x in named if x.strip()} | _FILLERS, key=len, reverse=True)
        self._sources = list(sources)
        self.max_sentences = max_sentences
        self._buffer = ""
        self._held: list[str] = []
        self.released: list[str] = []
        self.cited: list[int] = []
        self.rejected: str | None = None
        #: Sentences dropped because they only named a source.
        self.empty = 0

    @property
    def done(self) -> bool:
        """True when the answer has its releases or was refused: nothing more will be released.
        A release is one sentence, except the first, which also carries the sentences held
        before the first citation."""
        return self.rejected is not None or len(self.released) >= self.max_sentences

    def _grounded(self, sentence: str) -> str | None:
        for match in _NUMBER.finditer(CITATION.sub("", sentence)):
            digits = _digits(match.group())
            if digits in self._allowed_numbers or (len(digits) >= 3 and digits in self._allowed_digits):
                continue
            if len(digits) == 1:
                continue  # "1." step numbers, "3 句话": too common to police, too small to mislead
            return match.group().strip()
        return None

    def says_something(self, sentence: str) -> bool:
        """False when ``sentence``, without citations, punctuation and the sources' titles and
        headings, has fewer than :data:`MIN_CONTENT_CHARS` Chinese characters and fewer than
        :data:`MIN_CONTENT_WORDS` English words."""
        rest = _plain(strip_citations(sentence))
        for label in self._labels:
            rest = rest.replace(label, " ")
        return len(_CJK.findall(rest)) >= MIN_CONTENT_CHARS or len(_WORD.findall(rest)) >= MIN_CONTENT_WORDS

    def _take(self, sentence: str) -> str:
        if self.done:
            return ""
        own = [
            int(n)
            for m in CITATION.finditer(sentence)
            for n in re.split(r"\s*[,，、]\s*", m.group(1))
            if 1 <= int(n) <= self.n_sources
        ]
        if not CITATION.search(sentence) and self._sources:
            best = supporting_source(strip_citations(sentence), self._sources)
            own = [best] if best else []
        self.cited.extend(n for n in dict.fromkeys(own) if n not in self.cited)
        bad = self._grounded(sentence)
        if bad is not None:
            self.rejected = f"unsupported number {bad!r}"
            return ""
        if not self.says_something(sentence):
            self.empty += 1
            return ""
        said = speakable(sentence).strip()
        before = self._held[-1] if self._held else (self.released[-1] if self.released else "")
        if before and re.search(r"[A-Za-z0-9.,;:!?)]$", before) and re.match(r"[A-Za-z0-9(]", said):
            said = " " + said  # English sentences keep the space between them
        self._held.append(said)
        if not self.cited:
            return ""
        out = "".join(self._held)
        if self._sources:
            said = "".join(self.released) + out
            if len(_units(said)) >= COPY_MIN_CHARS and copied_share(said, self._sources) >= COPY_SHARE:
                self.rejected = "copies its sources"
                return ""
        self._held = []
        self.released.append(out)
        return out

    def feed(self, piece: str) -> str:
        """Add generated text; return what can be released now (possibly "")."""
        if self.done:
            return ""
        self._buffer += piece
        out = []
        while not self.done:
            match = _SENTENCE.match(self._buffer)
            if not match or not match.group():
                break
            self._buffer = self._buffer[match.end() :]
            out.append(self._take(match.group()))
        return "".join(out)

    def finish(self) -> str:
        """End of stream: check the last partial sentence; reject an answer that released nothing
        ("no citation of a retrieved source", or "says nothing" when it cited only names)."""
        tail = self._take(self._buffer) if self._buffer.strip() else ""
        self._buffer = ""
        if not self.released and not self.rejected:
            self.rejected = "says nothing" if self.cited and self.empty else "no citation of a retrieved source"
        return tail

    @property
    def text(self) -> str:
        """Everything released so far."""
        return "".join(self.released).strip()


@dataclass
class Generation:
    """Outcome of one LLM answer.

    Attributes:
        text: the released (cited, grounded) text; "" when nothing passed.
        cited: source numbers cited in the released text, in order of first citation.
        rejected: why generation was stopped or its output refused, None when all of it passed.
        first_token_ms / total_ms: latency from the call, milliseconds.
    """

    text: str
    cited: list[int]
    rejected: str | None
    first_token_ms: float | None
    total_ms: float
    raw: str = field(default="", repr=False)


def generate(
    model: ChatModel,
    messages: Sequence[dict[str, str]],
    gate: GroundingGate,
    *,
    max_tokens: int,
    temperature: float,
    on_text: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Generation:
    """Stream the model's answer through ``gate``, calling ``on_text`` with released text.

    Stops the model as soon as the gate rejects a sentence, or when ``cancelled()`` turns true
    (a barge-in): then ``rejected`` is 'cancelled' and nothing more is passed to ``on_text``.

    Raises:
        Whatever the model raises (the engine catches it and falls back).
    """
    t0 = time.perf_counter()
    first: float | None = None
    raw: list[str] = []
    stream = model.stream_chat(messages, max_tokens=max_tokens, temperature=temperature)
    try:
        for piece in stream:
            if cancelled is not None and cancelled():
                gate.rejected = "cancelled"
                break
            if first is None:
                first = (time.perf_counter() - t0) * 1e3
            raw.append(piece)
            out = gate.feed(piece)
            if out and on_text:
                on_text(out)
            if gate.done:
                break
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    tail = gate.finish() if gate.rejected != "cancelled" else ""
    if tail and on_text:
        on_text(tail)
    return Generation(
        text=gate.text,
        cited=list(gate.cited),
        rejected=gate.rejected,
        first_token_ms=first,
        total_ms=(time.perf_counter() - t0) * 1e3,
        raw="".join(raw),
    )
