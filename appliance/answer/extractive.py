"""Extractive answers: the matched guide's key lines shaped into a short spoken answer.

No model runs, so nothing can be invented: every clause of the answer is a line of the guide,
shortened at a clause boundary. What is said depends on what the question asks about (its
*aspects*: materials, place, hours, phone, conditions, amounts, fees, time limits, steps); a
question about nothing in particular ("社保卡掉了怎么办") gets the guide's key lines: the first
steps, what to bring, and where and when.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.knowledge.sectioning import strip_bullet
from appliance.knowledge.store import Chunk, DocInfo

ASPECT_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.I)
    for name, pattern in {
        "materials": r"材料|带什么|带啥|带哪些|要带|带上|准备什么|准备啥|准备哪些|需要什么|需要哪些|什么东西|证件|资料|"
        r"documents?|bring|paperwork",
        "place": r"在哪|哪里|哪儿|什么地方|地点|地址|去哪|哪个窗口|窗口在|where",
        "hours": r"几点|时间|什么时候|啥时候|哪天|周末|星期|上班|下班|开门|关门|营业|when|hours|opening|open\b",
        "phone": r"电话(是|号码)?多少|(打|拨|问)(什么|哪个|啥)电话|(联系|咨询|办事)(电话|方式)|号码是多少|热线|"
        r"phone number|contact|who (do|can) i call|what number",
        "conditions": r"条件|能不能|能否|能办吗|能申请|可以申请|可不可以|符合|资格|谁可以|够不够|算不算|eligib|qualif|who can",
        "amount": r"多少钱|给多少|补多少|发多少|领多少|补贴多少|标准是|how much",
        "fees": r"收费|费用|要钱|花钱|收钱|免费|工本费|\bcost|\bfees?\b|charge",
        "time_limit": r"多久|几天|多长时间|多少天|多长|how long",
        "process": r"流程|步骤|手续|怎么办理|如何办理|怎么申请|如何申请|怎么弄|怎么领|怎么补|怎么办|咋办|咋整|怎么处理|"
        r"how (do|can|to|should)|steps|what should|what do i do",
    }.items()
}

#: Which section kinds answer each aspect, best first.
ASPECT_KINDS: dict[str, tuple[str, ...]] = {
    "materials": ("materials",),
    "place": ("place", "place_hours"),
    "hours": ("hours", "place_hours"),
    "phone": ("phone",),
    "conditions": ("conditions",),
    "amount": ("benefits",),
    "fees": ("fees",),
    "time_limit": ("time_limit",),
    "process": ("process", "emergency_steps"),
}

#: Lines that answer an aspect wherever they stand (amounts and time limits often sit in tips).
ASPECT_LINES: dict[str, re.Pattern[str]] = {
    "amount": re.compile(r"\d+(\.\d+)?\s*(元|块|yuan)"),
    "fees": re.compile(r"\d+(\.\d+)?\s*(元|块|yuan)|免费|不收费|收费|工本费|free of charge|\bfee"),
    "time_limit": re.compile(r"\d+\s*(个)?(工作日|天|日|个月|周|分钟|小时)|当场|即时|当天|working days|days"),
}

LABELS = {
    "zh": {
        "process": "办理步骤",
        "emergency_steps": "这样做",
        "materials": "需要带",
        "conditions": "条件",
        "place": "地点",
        "hours": "时间",
        "place_hours": "地点和时间",
        "phone": "电话",
        "benefits": "标准",
        "fees": "费用",
        "time_limit": "时限",
        "tips": "提醒",
        "amount": "标准",
    },
    "en": {
        "process": "Steps",
        "emergency_steps": "What to do",
        "materials": "Bring",
        "conditions": "Who can apply",
        "place": "Where",
        "hours": "When",
        "place_hours": "Where and when",
        "phone": "Phone",
        "benefits": "Amount",
        "fees": "Fees",
        "time_limit": "Time limit",
        "tips": "Tip",
        "amount": "Amount",
    },
}

#: Sections the default answer draws on anyway; a best match of another kind ("分类标准") leads.
_KEY_KINDS = frozenset(
    ("overview", "conditions", "materials", "process", "place", "hours", "place_hours", "phone", "emergency_steps")
)
_CONDITIONAL = re.compile(r"^[^，,：:]{1,14}的[：:，,]|^(如|若|如果|If|For )", re.I)
_CLAUSE_END = re.compile(r"[。；;！!？?]|(?<=[，,])")
_LABEL_PREFIX = re.compile(
    r"^(办理地点|办理时间|地点|时间|地址|受理地点|受理时间|Where|When|Address|Hours)\s*[:：]\s*", re.I
)


def detect_aspects(question: str) -> list[str]:
    """What the question asks about, in :data:`ASPECT_PATTERNS` order (possibly empty)."""
    return [name for name, pattern in ASPECT_PATTERNS.items() if pattern.search(question)]


def shorten(text: str, max_chars: int) -> str:
    """``text`` cut at the last clause boundary (。；，!?) within ``max_chars``, else hard-cut with "…"."""
    text = text.strip()
    if len(text) <= max_chars:
        return text.rstrip("。；;，,")
    cut = -1
    for match in _CLAUSE_END.finditer(text[: max_chars + 1]):
        if match.end() >= max_chars // 3:
            cut = match.end()
    if cut > 0:
        return text[:cut].rstrip("。；;，, ")
    return text[:max_chars].rstrip() + "…"


def section_items(chunk: Chunk) -> list[str]:
    """A section's lines as items: bullets and numbers removed, blank lines dropped."""
    return [strip_bullet(line) for line in chunk.text.split("\n") if strip_bullet(line)]


@dataclass(frozen=True)
class Extract:
    """An extractive answer: its text and the sections it quotes."""

    text: str
    sections: tuple[Chunk, ...]


class ExtractiveAnswerer:
    """Shapes a guide's sections into a short answer.

    Args:
        max_chars: rough cap on the answer body (characters of Chinese; English gets 2.5× as
            many), to keep it speakable.
    """

    def __init__(self, max_chars: int = 230):
        self.max_chars = max_chars

    def answer(self, question: str, lang: str, doc: DocInfo, sections: Sequence[Chunk], best: Chunk) -> Extract:
        """Compose the answer.

        Args:
            question: the resident's question (for its aspects).
            lang: the question's language; when the guide is in another language a short note says so.
            doc: the matched document.
            sections: the document's content sections in order.
            best: the section retrieval matched best.
        """
        return _Composer("en" if doc.lang == "en" else "zh", self.max_chars).compose(
            question, lang, doc, sections, best
        )


class _Composer:
    """One answer's composition, in the guide's language ``doc_lang``."""

    def __init__(self, doc_lang: str, max_chars: int):
        self.doc_lang = doc_lang
        self._zh = doc_lang == "zh"
        self._scale = 1.0 if self._zh else 2.5
        self.max_chars = self._n(max_chars)

    def _n(self, chars: int) -> int:
        """A length budget in the guide's language (English needs about 2.5× the characters)."""
        return int(chars * self._scale)

    def compose(self, question: str, lang: str, doc: DocInfo, sections: Sequence[Chunk], best: Chunk) -> Extract:
        """See :meth:`ExtractiveAnswerer.answer`."""
        doc_lang = self.doc_lang
        labels = LABELS[doc_lang]
        by_kind: dict[str, list[Chunk]] = {}
        for s in sections:
            by_kind.setdefault(s.kind, []).append(s)
        aspects = detect_aspects(question)
        specific = [a for a in aspects if a != "process"]
        parts: list[tuple[str, str, Chunk]] = []  # (label, text, section)

        def add(kind: str, text: str, chunk: Chunk) -> None:
            if text and all(text != p[1] for p in parts):
                parts.append((labels.get(kind, ""), text, chunk))

        if specific:
            for aspect in specific[:2]:
                self._add_aspect(aspect, by_kind, sections, question, add, focused=True)
            if not parts and best.kind != "overview":
                add(best.kind, self._brief(best, 120), best)
            if "place" not in specific and "hours" not in specific and parts:
                self._add_aspect("place", by_kind, sections, question, add, focused=False)
        else:
            errand = any(k in by_kind for k in ("process", "materials", "conditions"))
            overview = by_kind.get("overview")
            if best.kind not in _KEY_KINDS:
                add(best.kind, self._brief(best, 110), best)
            elif not errand and overview:
                add("overview", self._first_sentence(overview[0], 70), overview[0])
            if "emergency_steps" in by_kind:
                add("emergency_steps", self._steps(by_kind["emergency_steps"][0], 3), by_kind["emergency_steps"][0])
            elif "process" in by_kind:
                add("process", self._steps(by_kind["process"][0], 2), by_kind["process"][0])
            if not errand and len(parts) < 2:
                others = [c for c in sections if c.kind in ("other", "tips") and c is not best]
                if others:
                    add(others[0].kind, self._brief(others[0], 110), others[0])
            if "conditions" in by_kind and "process" not in aspects:
                first = section_items(by_kind["conditions"][0])[0]
                add("conditions", shorten(first, self._n(50)), by_kind["conditions"][0])
            if "materials" in by_kind:
                add("materials", self._list(by_kind["materials"][0], 3, focused=False), by_kind["materials"][0])
            self._add_aspect("place", by_kind, sections, question, add, focused=False)
        if not parts:
            add(best.kind, self._brief(best, 160), best)
        if "phone" in by_kind and not any(p[2].kind == "phone" for p in parts):
            add("phone", shorten(section_items(by_kind["phone"][0])[0], self._n(40)), by_kind["phone"][0])

        body, kept = self._join(parts, doc_lang)
        if doc_lang == "zh":
            text = f"关于“{doc.title}”：{body}"
        else:
            text = f"About “{doc.title}”: {body}"
        if lang != doc_lang:
            text = ("This guide is in Chinese. " if lang == "en" else "这份指南是英文的。") + text
        used = tuple(dict.fromkeys(p[2] for p in kept))
        return Extract(text=text, sections=used)

    # -- pieces ------------------------------------------------------------------------------------

    def _add_aspect(self, aspect, by_kind, sections, question, add, *, focused: bool) -> None:
        for kind in ASPECT_KINDS.get(aspect, ()):
            if kind in by_kind:
                chunk = by_kind[kind][0]
                if kind in ("place", "hours", "place_hours"):
                    add(kind, self._place_hours(chunk, aspect if focused else "place_hours"), chunk)
                elif kind in ("process", "emergency_steps"):
                    add(kind, self._steps(chunk, 4 if focused else 2), chunk)
                elif kind == "materials":
                    add(kind, self._list(chunk, 8 if focused else 3, focused=focused), chunk)
                else:
                    add(kind, self._brief(chunk, 140 if focused else 60), chunk)
                return
        line_pattern = ASPECT_LINES.get(aspect)
        if line_pattern is None:
            return
        candidates = [(s, item) for s in sections for item in section_items(s) if line_pattern.search(item)]
        if candidates:
            grams = {question[i : i + 2] for i in range(len(question) - 1)}
            s, item = max(candidates, key=lambda c: sum(1 for g in grams if g in c[1]))
            add(aspect, shorten(item, self._n(90)), s)

    def _sep(self) -> str:
        return "；" if self._zh else "; "

    def _brief(self, chunk: Chunk, max_chars: int) -> str:
        items = [it.rstrip("。；;.") for it in section_items(chunk)]
        return shorten(self._sep().join(items), self._n(max_chars))

    def _first_sentence(self, chunk: Chunk, max_chars: int) -> str:
        text = " ".join(section_items(chunk))
        first = re.split(r"(?<=[。！？])|(?<=[.!?])\s", text, maxsplit=1)[0]
        return shorten(first, self._n(max_chars))

    def _list(self, chunk: Chunk, max_items: int, *, focused: bool) -> str:
        """A list section (materials) as a short enumeration, each item cut before its parenthesis.

        Items that apply only to some residents ("代办的：…", "If the card is damaged: …") come last
        when the question is about the list, and are left out (with "等") otherwise.
        """
        raw = section_items(chunk)
        conditional = [bool(_CONDITIONAL.match(it)) for it in raw]
        ordered = [it for it, c in zip(raw, conditional, strict=True) if not c]
        if focused:
            ordered += [it for it, c in zip(raw, conditional, strict=True) if c]
        items = [shorten(re.split(r"[（(]", it)[0] or it, self._n(30 if focused else 22)) for it in ordered]
        more = len(items) > max_items or len(ordered) < len(raw)
        if self._zh:
            return "、".join(items[:max_items]) + ("等" if more else "")
        return ", ".join(items[:max_items]) + (", etc" if more else "")

    def _steps(self, chunk: Chunk, max_steps: int) -> str:
        items = section_items(chunk)[:max_steps]
        numbered = [f"{i}. {shorten(item, self._n(48))}" for i, item in enumerate(items, start=1)]
        return self._sep().join(numbered)

    def _place_hours(self, chunk: Chunk, aspect: str) -> str:
        items = [_LABEL_PREFIX.sub("", it) for it in section_items(chunk)]
        if chunk.kind == "place_hours" and len(items) >= 2:
            place, hours = items[0], items[1]
            if aspect == "place":
                return shorten(place, self._n(80))
            if aspect == "hours":
                return shorten(hours, self._n(80))
            return shorten(place, self._n(60)) + self._sep() + shorten(hours, self._n(60))
        return shorten(self._sep().join(items), self._n(100))

    def _join(self, parts: Sequence[tuple[str, str, Chunk]], lang: str) -> tuple[str, list[tuple[str, str, Chunk]]]:
        out: list[str] = []
        kept: list[tuple[str, str, Chunk]] = []
        total = 0
        for label, text, chunk in parts:
            piece = (
                f"{label}：{text}。"
                if lang == "zh" and label
                else f"{label}: {text}."
                if label
                else (f"{text}。" if lang == "zh" else f"{text}.")
            )
            if out and total + len(piece) > self.max_chars:
                break
            out.append(piece)
            kept.append((label, text, chunk))
            total += len(piece)
        return ("" if lang == "zh" else " ").join(out), kept
