"""LLM answers grounded in retrieved sections, released sentence by sentence through a gate.

The prompt gives the model numbered sources (the top sections) and asks for a short, speakable
answer in the question's language that cites them as ``[n]``. The model's own chat template (from
its GGUF metadata) formats the conversation; tokens are streamed.

Nothing the model writes reaches the resident unchecked. :class:`GroundingGate` holds complete
sentences until the answer has cited a retrieved source, and refuses any sentence with a number
(an amount, a phone number, a day count) that appears in neither the sources, the site profile nor
the question: small models invent numbers more readily than anything else, and a wrong phone
number or fee is the most harmful thing a kiosk can say. An answer that ends without a citation is
discarded whole, and the engine falls back to the extractive answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from appliance.site import Site

CITATION = re.compile(r"[\[【［]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】］]")
_SENTENCE = re.compile(r".*?(?:[。！？!?；;\n]|\.(?=\s)|\.$)", re.S)
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


def build_messages(
    question: str, lang: str, site: Site, sources: Sequence[PromptSource], history: Sequence[dict[str, str]] = ()
) -> list[dict[str, str]]:
    """Chat messages: system rules, earlier turns (if any), then sources and the question.

    Returns:
        A list of ``{"role", "content"}`` dicts for the model's chat template.
    """
    system = (SYSTEM_EN if lang == "en" else SYSTEM_ZH).format(
        assistant=site.assistant_name_en if lang == "en" else site.assistant_name,
        site=site.text("name", lang),
        duty_phone=site.duty_phone,
    )
    blocks = []
    for s in sources:
        heading = f" — {s.heading}" if s.heading and s.heading != s.title else ""
        blocks.append(f"[{s.number}] 《{s.title}》{heading}\n{s.text.strip()}")
    if lang == "en":
        user = "[Sources]\n" + "\n\n".join(blocks) + f"\n\n[Question]\n{question}"
    else:
        user = "【资料】\n" + "\n\n".join(blocks) + f"\n\n【问题】\n{question}"
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": user}]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class GroundingGate:
    """Releases an LLM's streamed text only when it is cited and its numbers are grounded.

    Feed text pieces with :meth:`feed`; it returns the text that may be shown now (whole sentences).
    Call :meth:`finish` at the end of the stream for the rest.

    Args:
        n_sources: valid citation numbers are 1..n_sources.
        allowed_text: text whose numbers may be repeated (sources, site profile, question).
    """

    def __init__(self, n_sources: int, allowed_text: str):
        self.n_sources = n_sources
        self._allowed_digits = _digits(allowed_text)
        self._allowed_numbers = {_digits(m.group()) for m in _NUMBER.finditer(allowed_text)}
        self._buffer = ""
        self._held: list[str] = []
        self.released: list[str] = []
        self.cited: list[int] = []
        self.rejected: str | None = None

    def _grounded(self, sentence: str) -> str | None:
        for match in _NUMBER.finditer(CITATION.sub("", sentence)):
            digits = _digits(match.group())
            if digits in self._allowed_numbers or (len(digits) >= 3 and digits in self._allowed_digits):
                continue
            if len(digits) == 1:
                continue  # "1." step numbers, "3 句话": too common to police, too small to mislead
            return match.group().strip()
        return None

    def _take(self, sentence: str) -> str:
        if self.rejected:
            return ""
        for m in CITATION.finditer(sentence):
            for n in re.split(r"\s*[,，、]\s*", m.group(1)):
                if 1 <= int(n) <= self.n_sources and int(n) not in self.cited:
                    self.cited.append(int(n))
        bad = self._grounded(sentence)
        if bad is not None:
            self.rejected = f"unsupported number {bad!r}"
            return ""
        self._held.append(sentence)
        if not self.cited:
            return ""
        out = "".join(self._held)
        self._held = []
        self.released.append(out)
        return out

    def feed(self, piece: str) -> str:
        """Add generated text; return what can be released now (possibly "")."""
        if self.rejected:
            return ""
        self._buffer += piece
        out = []
        while True:
            match = _SENTENCE.match(self._buffer)
            if not match or not match.group():
                break
            self._buffer = self._buffer[match.end() :]
            out.append(self._take(match.group()))
            if self.rejected:
                break
        return "".join(out)

    def finish(self) -> str:
        """End of stream: check the last partial sentence; reject an answer that cited nothing."""
        tail = self._take(self._buffer) if self._buffer.strip() else ""
        self._buffer = ""
        if not self.cited and not self.rejected:
            self.rejected = "no citation of a retrieved source"
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
            if gate.rejected:
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
