"""``kiosk bench llm``: the LLM's answers to the demo's held-out questions, timed and checked.

Each question of ``appliance/demo/eval/test/answerable.jsonl`` (written without looking at the
guides' sample questions; nothing is fitted on it) is asked through the answer engine with the
configured LLM, as a spoken turn. Per answer the bench records, from the call of
:meth:`AnswerEngine.ask` (the end of speech is ``asr`` earlier, see ``kiosk bench voice``):
the first token, the first sentence released by the grounding gate, the end; the tokens
generated and tokens per second; the prompt's size in tokens; whether the gate passed the answer
(or why not: uncited, copied, says nothing, unsupported number); and the spoken length of what
was said (Chinese characters or English words).

The figures decide the default of ``[llm] enabled`` on a CPU-only kiosk (see
:class:`appliance.config.LLMSettings`): the LLM speaks first only if its first sentence comes
within :data:`FIRST_SENTENCE_TARGET_S` of the end of speech.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.answer.engine import AnswerEngine
from appliance.answer.extractive import spoken_length
from appliance.answer.generative import estimate_tokens, system_prompt

#: The issue's bound for an LLM that speaks first: its first sentence within 2.5 s of the end of speech.
FIRST_SENTENCE_TARGET_S = 2.5


@dataclass(frozen=True)
class LLMTurn:
    """One question answered with the LLM.

    Attributes:
        first_token_ms / first_sentence_ms / total_ms: from the call, milliseconds; None when the
            model produced no token, or the gate released nothing.
        prompt_tokens: the whole prompt (system, sources, question), tokens.
        new_tokens: the part after the system prompt, evaluated anew each turn, tokens.
        generated_tokens: tokens the model generated.
        outcome: 'passed' (shown, possibly cut), or the reason the extractive answer was used.
        length: spoken length of the released text (characters, or words for English).
    """

    question: str
    lang: str
    first_token_ms: float | None
    first_sentence_ms: float | None
    total_ms: float
    prompt_tokens: int
    new_tokens: int
    generated_tokens: int
    outcome: str
    length: int
    text: str

    @property
    def tokens_per_s(self) -> float | None:
        """Generation speed after the first token, tokens a second."""
        if self.first_token_ms is None or self.generated_tokens < 2:
            return None
        gen_s = (self.total_ms - self.first_token_ms) / 1e3
        return (self.generated_tokens - 1) / gen_s if gen_s > 0 else None


class _Counting:
    """Wraps a chat model to keep each prompt and reply (and its ``count_tokens``, else an estimate)."""

    def __init__(self, model):
        self.model = model
        self.name = model.name
        self.count_tokens = getattr(model, "count_tokens", None) or estimate_tokens
        self.messages: Sequence[dict[str, str]] = ()
        self.reply = ""

    def stream_chat(self, messages, *, max_tokens: int, temperature: float):
        self.messages, self.reply = messages, ""
        for piece in self.model.stream_chat(messages, max_tokens=max_tokens, temperature=temperature):
            self.reply += piece
            yield piece


def answer_all(engine: AnswerEngine, questions: Sequence[str]) -> list[LLMTurn]:
    """Ask each question with the engine's LLM (a spoken turn) and measure the answers that
    reached it (questions answered by a script, a clarification or a refusal are left out).

    Raises:
        ValueError: the engine has no LLM.
    """
    if engine.llm is None:
        raise ValueError("no LLM is loaded")
    model = engine.llm
    counting = _Counting(model)
    count = counting.count_tokens
    engine.llm = counting
    turns = []
    try:
        for q in questions:
            released: list[float] = []
            t0 = time.perf_counter()
            counting.messages, counting.reply = (), ""
            a = engine.ask(q, on_text=lambda _t, r=released: r.append(time.perf_counter()), record=False, speech=True)
            if a.mode != "answer" or not counting.messages:
                continue
            system = system_prompt(a.lang, engine.site)
            prompt = sum(count(m["content"]) for m in counting.messages)
            passed = a.generator == "llm"
            turns.append(
                LLMTurn(
                    question=q,
                    lang=a.lang,
                    first_token_ms=a.timings_ms.get("llm_first_token") or None,
                    first_sentence_ms=(released[0] - t0) * 1e3 if passed and released else None,
                    total_ms=a.timings_ms.get("total", (time.perf_counter() - t0) * 1e3),
                    prompt_tokens=prompt,
                    new_tokens=prompt - count(system),
                    generated_tokens=count(counting.reply) if counting.reply else 0,
                    outcome="passed" if passed else (a.reason or "fallback"),
                    length=spoken_length(a.answer, a.lang) if passed else 0,
                    text=a.answer if passed else counting.reply,
                )
            )
    finally:
        engine.llm = model
    return turns
