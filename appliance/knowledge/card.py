"""What the touchscreen shows besides the answer text: guide cards, community notices, topics.

* :func:`guide_card` turns a stored guide into a :class:`GuideCard`: title, summary, who
  qualifies, what to bring (a checklist), the steps, where, when, the phone numbers and the tips.
  Sections are recognised by their headings, whatever a guide calls them (所需材料, 申请材料,
  Documents to bring ...), and lists are read line by line. A card only ever holds the guide's own
  lines: a section the guide does not have stays empty (or None), nothing is filled in.
* :func:`notices` lists the community notices (documents of category 社区通知 / Community
  notice) for the attract screen, soonest first.
* :func:`popular_topics` gives the topics grid: the guides residents asked about most in the
  journal's recent answered turns, then the rest in a stable order; notices and emergency guides
  are left out (an emergency is met by triage, not by a tile), and each tile's question is one
  the engine answers from the guide rather than handing to staff.

Everything here reads the knowledge base (and the journal) and keeps no state.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.knowledge.model import clean_heading, heading_kind
from appliance.knowledge.sectioning import strip_bullet
from appliance.knowledge.store import Chunk, DocInfo, KnowledgeBase
from appliance.triage import Triage

if TYPE_CHECKING:
    from appliance.journal import Journal

#: Categories (compared case-insensitively) that mark a document as a community notice.
NOTICE_CATEGORIES: frozenset[str] = frozenset({"社区通知", "community notice", "community notices"})

#: Categories of guides kept off the topics grid: emergencies are handled by triage first, and a
#: tile that sends "电梯困人应急处置" would raise an emergency rather than answer. The demo's
#: 安全应急 and "Safety and emergencies" match (lift, e-bike fires, fraud).
_EMERGENCY_CATEGORY = re.compile(r"应急|急救|emergenc", re.I)

# Headings the standard table (appliance.knowledge.model) files under 'other' or reads too
# literally ("时间和地点" would be 'hours'), for the card only. Each entry: (kind, prefixes,
# suffixes), compared on the cleaned, lower-cased heading; checked before the standard table.
_CARD_HEADINGS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("place_hours", ("时间和地点", "时间及地点", "时间地点", "when and where", "time and place"), ()),
    (
        "materials",
        (
            "需要带的材料",
            "要带的材料",
            "需带的材料",
            "需要准备的材料",
            "准备材料",
            "需要携带",
            "携带物品",
            "带什么",
            "what you need to bring",
            "what to take",
            "bring",
        ),
        ("所需材料", "要带的材料", "携带材料"),
    ),
    ("conditions", ("谁可以", "哪些人可以", "who qualifies", "who can"), ("对象", "条件")),
    ("process", ("办理方式",), ("流程", "步骤")),
    ("tips", ("things to note", "good to know", "reminders", "小贴士", "提醒"), ("注意事项", "提示")),
    ("phone", ("telephone", "hotlines"), ("电话", "热线")),
)

# "办理地点：…" / "Where: …": a line that states the place or the hours. A generic label is
# dropped from the value; a specific one ("供餐时间：…", "停水时间：…", recognised by its ending in
# a place or hours section) is kept, so that two such lines stay told apart.
_PLACE_LABELS = frozenset(
    {
        "办理地点",
        "受理地点",
        "服务地点",
        "办公地点",
        "办理窗口",
        "地点",
        "地址",
        "where",
        "address",
        "location",
        "venue",
        "place",
    }
)
_HOURS_LABELS = frozenset(
    {
        "办理时间",
        "受理时间",
        "办公时间",
        "服务时间",
        "开放时间",
        "时间",
        "when",
        "hours",
        "opening hours",
        "office hours",
        "time",
        "date",
        "dates",
    }
)
_PLACE_ENDINGS = ("地点", "地址", "窗口", " location", " address", " venue")
_HOURS_ENDINGS = ("时间", "日期", " hours", " times", " time", " date", " dates")
_LABELLED_LINE = re.compile(r"^\s*【?([^：:】]{1,16}?)】?\s*(?:：|:(?!\d))\s*(\S.*)$")
_TIME_LIKE = re.compile(
    r"\d{1,2}[:：]\d{2}|周[一二三四五六日天]|星期|工作日|节假日|[上下]午|\d+月\d+日|"
    r"\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|working days|a\.m\.|p\.m\.",
    re.I,
)

# Phone numbers as guides print them: landlines with an area code (010-0000-1234, 020-83119116,
# (020)87623552, 020-12366-2-4), mobiles, 400/800 lines, five-digit service numbers (12333,
# 12345, 96110, 95588) and the emergency numbers; an extension ("转1") stays with its number.
# Read only in phone sections, or after a "label：" elsewhere, so years, prices and addresses
# are not taken.
_NUMBER = re.compile(
    r"(?<![\d:.\-/])(?:"
    r"(?:[(（]0\d{2,3}[)）]\s?|0\d{2,3}[-－ ]{0,2})\d{3,4}[- ]?\d{4}(?:-\d{1,4})?"
    r"|0\d{2,3}-\d{5}(?:-\d{1,4}){0,2}"
    r"|(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}"
    r"|[48]00[- ]?\d{3}[- ]?\d{4}"
    r"|1[0-2]\d{3}|9[5-6]\d{3}"
    r"|11[04]|119|12[02]|999"
    r")(?:\s*转\s*\d{1,6})?(?![\d:])"
)
_PHONE_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.、](?!\d))\s*")
_CALL_VERB = re.compile(r"[，,\s]*(?:请|先|可|可以|直接|马上|立即)?(?:拨打|致电|打|call|dial|ring)\s*$", re.I)
_LEADING_CALL = re.compile(r"^(?:请|可|可以|也可)?(?:拨打|致电|联系|call|dial|ring)\s*", re.I)
_NOTE = re.compile(r"^\s*[（(]([^）)]*)[）)]")
_LABEL_COLON = re.compile(r"：|:(?=\s)|:$")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;；])\s")

_SUMMARY_CHARS = {"zh": 200, "en": 500}

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for m in names
}
_MONTH_NAME = r"\b(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b"
_DATE = re.compile(
    r"(?:(?P<y1>\d{4})\s*年\s*)?(?P<m1>\d{1,2})\s*月\s*(?P<d1>\d{1,2})\s*[日号]"
    r"|(?P<y2>\d{4})-(?P<m2>\d{1,2})-(?P<d2>\d{1,2})"
    rf"|(?P<d3>\d{{1,2}})\s+(?P<mon3>{_MONTH_NAME})\.?(?:,?\s+(?P<y3>\d{{4}}))?"
    rf"|(?P<mon4>{_MONTH_NAME})\.?\s+(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y4>\d{{4}}))?",
    re.I,
)


# --------------------------------------------------------------------------------------------
# What the screen gets


@dataclass(frozen=True)
class Phone:
    """A phone number as a guide gives it.

    Attributes:
        label: who answers, as written before the number ("人社服务热线", "Fire"); the section
            heading ("咨询电话") when the line has no label.
        number: the number as printed ("12333", "010-0000-1234", "020-38356454转1").
        note: the remark in brackets right after the number ("社区可帮忙指引，不直接制卡"), or None.
    """

    label: str
    number: str
    note: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """``{"label", "number", "note"}``."""
        return {"label": self.label, "number": self.number, "note": self.note}


@dataclass(frozen=True)
class GuideCard:
    """The source card of a guide: what the screen shows next to an answer drawn from it.

    Every field holds the guide's own text; what the guide does not say is empty or None.

    Attributes:
        doc_id: the document's id in the knowledge base.
        title: the guide's title.
        lang: 'zh' or 'en'.
        category: the guide's category label, or None.
        summary: the first paragraph of the overview (text before the first heading), cut at a
            sentence end when long; '' when the guide has none.
        eligibility: who qualifies (办理条件, Eligibility ...), one item per list line.
        materials: what to bring (所需材料, Documents to bring ...), one checklist item per line.
        steps: the procedure (办理流程, Steps) or, in an emergency guide, what to do, in order.
        place: where (办理地点：…, Where: …, or a place section), or None.
        hours: when (办理时间：…, When: …, or an hours section), or None.
        phones: the numbers of the phone sections (咨询电话, Contact, 求助电话 ...); when a guide
            has none, "label：number" lines elsewhere.
        tips: 温馨提示, 注意事项, 不要做的事, Tips ...
        updated: the guide's date. The knowledge base does not store front-matter dates, so this
            is None for now.
    """

    doc_id: str
    title: str
    lang: str
    category: str | None
    summary: str
    eligibility: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    place: str | None = None
    hours: str | None = None
    phones: tuple[Phone, ...] = ()
    tips: tuple[str, ...] = ()
    updated: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists and strings (for QML): the fields by name, phones as dicts."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "lang": self.lang,
            "category": self.category,
            "summary": self.summary,
            "eligibility": list(self.eligibility),
            "materials": list(self.materials),
            "steps": list(self.steps),
            "place": self.place,
            "hours": self.hours,
            "phones": [p.to_json() for p in self.phones],
            "tips": list(self.tips),
            "updated": self.updated,
        }


@dataclass(frozen=True)
class Notice:
    """A community notice for the attract screen.

    Attributes:
        doc_id: the notice's document id (ask about its title to get the full answer).
        summary: its first paragraph (see :attr:`GuideCard.summary`).
        when: its time line ("时间：…", "When: …"), or None.
        where: its place line ("地点：…", "Where: …"), or None.
        lang: 'zh' or 'en'.
    """

    doc_id: str
    title: str
    summary: str
    when: str | None
    where: str | None
    lang: str

    def to_json(self) -> dict[str, str | None]:
        """``{"doc_id", "title", "summary", "when", "where", "lang"}``."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "summary": self.summary,
            "when": self.when,
            "where": self.where,
            "lang": self.lang,
        }


@dataclass(frozen=True)
class Topic:
    """A tile of the topics grid.

    Attributes:
        question: what the screen asks the answer engine when the tile is tapped: the guide's
            title, which retrieves the guide itself first, unless triage would take the title for
            a matter for staff (then the guide's first sample question that it lets through).
    """

    doc_id: str
    title: str
    category: str | None
    question: str

    def to_json(self) -> dict[str, str | None]:
        """``{"doc_id", "title", "category", "question"}``."""
        return {"doc_id": self.doc_id, "title": self.title, "category": self.category, "question": self.question}


# --------------------------------------------------------------------------------------------
# Reading sections


def card_kind(heading: str) -> str:
    """The card field a section heading feeds: a kind of :data:`appliance.knowledge.model.KINDS`.

    The card's own synonyms (需要带的材料, 时间和地点, 接种对象, Things to note ...) are tried
    first, then the standard heading table; 'other' when neither fits.
    """
    h = clean_heading(heading).lower()
    for kind, prefixes, suffixes in _CARD_HEADINGS:
        if h.startswith(prefixes) or (suffixes and h.endswith(suffixes)):
            return kind
    return heading_kind(heading)


def _section_kind(chunk: Chunk) -> tuple[str, str | None]:
    """(kind, sub-heading): the innermost heading that has a kind; the heading below it, if any,
    is returned so that its items can be prefixed ("代办的：…")."""
    headings = chunk.heading_path[1:]
    if not headings:
        return chunk.kind, None
    for depth in range(len(headings) - 1, -1, -1):
        kind = card_kind(headings[depth])
        if kind != "other":
            sub = headings[-1] if depth < len(headings) - 1 else None
            return kind, sub
    return "other", None


@dataclass(frozen=True)
class _Section:
    kind: str
    heading: str
    sub: str | None
    text: str


def _sections(chunks: Sequence[Chunk]) -> list[_Section]:
    """The document's sections in order, the parts of a long section joined again."""
    out: list[_Section] = []
    last_path: tuple[str, ...] | None = None
    for chunk in chunks:
        if chunk.is_question:
            continue
        if chunk.heading_path == last_path and out:
            prev = out[-1]
            out[-1] = _Section(prev.kind, prev.heading, prev.sub, f"{prev.text}\n{chunk.text}")
            continue
        kind, sub = _section_kind(chunk)
        heading = chunk.heading_path[-1] if len(chunk.heading_path) > 1 else ""
        out.append(_Section(kind, clean_heading(heading) or heading, sub, chunk.text))
        last_path = chunk.heading_path
    return out


def list_items(text: str) -> list[str]:
    """A section's lines as items: "- ", "1. ", "（2）" markers removed, blank lines dropped, and
    an indented line without a marker joined to the item above it."""
    items: list[str] = []
    for raw in text.split("\n"):
        item = strip_bullet(raw)
        if not item:
            continue
        continues = raw[:1].isspace() and strip_bullet(raw) == raw.strip()
        if continues and items:
            items[-1] = f"{items[-1]} {item}"
        else:
            items.append(item)
    return items


def _items(sections: Iterable[_Section], kinds: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for s in sections:
        if s.kind in kinds:
            prefix = f"{s.sub}：" if s.sub else ""
            out.extend(prefix + item for item in list_items(s.text))
    return tuple(dict.fromkeys(out))


def _labelled(item: str, *, endings: bool) -> tuple[str, str] | None:
    """("place" or "hours", value) for a labelled line; with ``endings``, specific labels too."""
    match = _LABELLED_LINE.match(item)
    if not match:
        return None
    label, value = match.group(1).strip().lower(), match.group(2).strip()
    if label in _PLACE_LABELS:
        return "place", value
    if label in _HOURS_LABELS:
        return "hours", value
    if endings and label.endswith(_PLACE_ENDINGS):
        return "place", item.strip()
    if endings and label.endswith(_HOURS_ENDINGS):
        return "hours", item.strip()
    return None


def _place_hours(sections: Sequence[_Section]) -> tuple[str | None, str | None]:
    """Where and when: labelled lines in the place/hours sections, else labelled lines anywhere,
    else the text of a place or hours section (lines of a mixed section told apart by whether
    they read like times)."""
    own = [s for s in sections if s.kind in ("place", "hours", "place_hours")]
    rest = [s for s in sections if s.kind not in ("place", "hours", "place_hours", "phone")]
    for group, endings in ((own, True), (rest, False)):
        found: dict[str, list[str]] = {"place": [], "hours": []}
        for s in group:
            for item in list_items(s.text):
                labelled = _labelled(item, endings=endings)
                if labelled:
                    found[labelled[0]].append(labelled[1])
        if found["place"] or found["hours"]:
            return _join(found["place"]), _join(found["hours"])
    places, hours = [], []
    for s in own:
        for item in list_items(s.text):
            if s.kind == "place" or (s.kind == "place_hours" and not _TIME_LIKE.search(item)):
                places.append(item)
            else:
                hours.append(item)
    return _join(places), _join(hours)


def _join(parts: Sequence[str]) -> str | None:
    unique = list(dict.fromkeys(p for p in parts if p))
    return "；".join(unique) if unique else None


def _split_segments(line: str) -> list[str]:
    """A line split at semicolons outside brackets ("消防救援：119；医疗急救：120")."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(line):
        if ch in "（(":
            depth += 1
        elif ch in "）)":
            depth = max(0, depth - 1)
        elif ch in "；;" and depth == 0:
            out.append(line[start:i])
            start = i + 1
    out.append(line[start:])
    return [s for s in out if s.strip()]


def _clean_label(text: str, *, last_clause: bool = False) -> str:
    """The label in the text before a number: after the last "label：" colon (with
    ``last_clause``, also after the last "，"), without list separators and call verbs
    ("遇到危险，先拨打" → "遇到危险", "请拨打社区值班电话" → "社区值班电话")."""
    text = text.strip(" \t、，,/和或及").strip()
    parts = [p.strip() for p in _LABEL_COLON.split(text)]
    named = [p for p in parts if p]
    label = named[-1] if named else ""
    if last_clause:
        label = re.split(r"[，。！？]", label)[-1]
    label = re.sub(r"^(?:and|or)\s+", "", label.strip())
    label = _CALL_VERB.sub("", _LEADING_CALL.sub("", label))
    return label.strip(" 、，,（(")


def parse_phones(text: str, default_label: str = "", *, labelled_only: bool = False) -> list[Phone]:
    """The phone numbers in ``text`` with their labels.

    Each line is cut at semicolons; a number's label is the text before it (after the last
    "label：" colon), or the previous number's label ("020-37886901、020-37886909"), or
    ``default_label``; a bracketed remark right after the number becomes its note.

    Args:
        labelled_only: take only numbers that directly follow "label：" (for text outside a phone
            section, where a bare number may be part of a sentence).
    """
    out: list[Phone] = []
    for raw in text.split("\n"):
        line = _PHONE_BULLET.sub("", raw)  # not strip_bullet: "(020)…" and "+86…" are not markers
        for segment in _split_segments(line):
            label, end = "", 0
            for match in _NUMBER.finditer(segment):
                before = segment[end : match.start()]
                if labelled_only and not re.search(r"[：:]\s*$", before):
                    end = match.end()
                    continue
                # outside a phone section, the clause before the colon, not the whole sentence
                label = _clean_label(before, last_clause=labelled_only) or label
                if labelled_only and (not label or len(label) > 40):
                    end = match.end()
                    continue
                end = match.end()
                note = _NOTE.match(segment[end:])
                if note:
                    end += note.end()
                number = re.sub(r"\s*转\s*", "转", match.group())
                out.append(Phone(label or default_label, number, note.group(1).strip() if note else None))
    return out


def _phones(sections: Sequence[_Section]) -> tuple[Phone, ...]:
    found: list[Phone] = []
    for s in sections:
        if s.kind == "phone":
            found += parse_phones(s.text, s.heading)
    if not found:
        for s in sections:
            found += parse_phones(s.text, labelled_only=True)
    seen: dict[str, Phone] = {}
    for phone in found:
        seen.setdefault(re.sub(r"\D", "", phone.number), phone)
    return tuple(seen.values())


def _trim(text: str, max_chars: int) -> str:
    """The first paragraph of ``text``, cut after the last sentence end within ``max_chars``
    (hard-cut with "…" when a single sentence is longer)."""
    paragraph = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0].strip()
    if len(paragraph) <= max_chars:
        return paragraph
    cut = 0
    for match in _SENTENCE_END.finditer(paragraph[: max_chars + 1]):
        cut = match.end()
    if cut >= max_chars // 3:
        return paragraph[:cut].strip()
    return paragraph[:max_chars].rstrip() + "…"


# --------------------------------------------------------------------------------------------
# Public functions


def _card(doc: DocInfo, chunks: Sequence[Chunk]) -> GuideCard:
    sections = _sections(chunks)
    overview = next((s.text for s in sections if s.kind == "overview"), "")
    place, hours = _place_hours(sections)
    return GuideCard(
        doc_id=doc.doc_id,
        title=doc.title,
        lang=doc.lang,
        category=doc.category,
        summary=_trim(overview, _SUMMARY_CHARS.get(doc.lang, _SUMMARY_CHARS["zh"])),
        eligibility=_items(sections, ("conditions",)),
        materials=_items(sections, ("materials",)),
        steps=_items(sections, ("process", "emergency_steps")),
        place=place,
        hours=hours,
        phones=_phones(sections),
        tips=_items(sections, ("tips",)),
        updated=None,
    )


def guide_card(kb: KnowledgeBase, doc_id: str) -> GuideCard | None:
    """The card of document ``doc_id``; None when the knowledge base has no such document.

    Works for any document: an errand guide fills most fields, an emergency guide (电梯困人) gets
    its steps, tips and numbers, a notice its time and place.
    """
    doc = kb.docs_by_id([doc_id]).get(doc_id)
    if doc is None:
        return None
    return _card(doc, kb.doc_chunks(doc_id))


def is_notice(doc: DocInfo) -> bool:
    """True for a community notice (category 社区通知 / Community notice)."""
    return (doc.category or "").strip().lower() in NOTICE_CATEGORIES


def is_emergency_guide(doc: DocInfo) -> bool:
    """True for a safety and emergency guide (a category with 应急, 急救 or 'emergenc')."""
    return bool(_EMERGENCY_CATEGORY.search(doc.category or ""))


def dates_in(text: str, default_year: int | None = None) -> list[dt.date]:
    """The calendar dates written in ``text``, in order: "2026年11月9日", "2026-11-09",
    "9 November 2026", "November 9, 2026"; a date without a year ("12月18日", "16 November to 18
    December 2026") takes the year of the dates before it, else of the first one after it, else
    ``default_year``. Dates left without a year, and impossible dates, are skipped."""
    found: list[tuple[int | None, int, int]] = []
    for m in _DATE.finditer(text):
        g = m.groupdict()
        if g["m1"]:
            y, mo, d = g["y1"], int(g["m1"]), int(g["d1"])
        elif g["m2"]:
            y, mo, d = g["y2"], int(g["m2"]), int(g["d2"])
        else:
            name = (g["mon3"] or g["mon4"]).lower()
            y, mo, d = g["y3"] or g["y4"], _MONTHS[name], int(g["d3"] or g["d4"])
        found.append((int(y) if y else None, mo, d))
    out: list[dt.date] = []
    year = None
    for i, (y, mo, d) in enumerate(found):
        year = y or year or next((later for later, _, _ in found[i + 1 :] if later), default_year)
        if year is None:
            continue
        try:
            out.append(dt.date(year, mo, d))
        except ValueError:
            continue
    return out


def notices(kb: KnowledgeBase, lang: str, limit: int = 10, *, today: dt.date | None = None) -> list[Notice]:
    """The community notices in ``lang`` for the attract screen, at most ``limit``.

    Ordered by the first date in their time line (soonest first), undated ones after, then by
    title. With ``today``, a notice whose dates are all past is left out (one without dates is
    kept). An empty list when there are none.
    """
    dated: list[tuple[tuple[int, dt.date, str], Notice]] = []
    for doc in kb.documents():
        if doc.lang != lang or not is_notice(doc):
            continue
        card = _card(doc, kb.doc_chunks(doc.doc_id))
        when = dates_in(card.hours or "")
        if today is not None and when and max(when) < today:
            continue
        notice = Notice(doc.doc_id, doc.title, card.summary, card.hours, card.place, doc.lang)
        key = (0, min(when), doc.title) if when else (1, dt.date.max, doc.title)
        dated.append((key, notice))
    dated.sort(key=lambda pair: pair[0])
    return [n for _, n in dated[: max(0, limit)]]


def cited_counts(journal: Journal | None, recent: int = 1000) -> Counter[str]:
    """How many of the journal's last ``recent`` answered turns cited each document (a turn
    counts once per document). Empty without a journal."""
    counts: Counter[str] = Counter()
    if journal is None:
        return counts
    for sources in journal.answered_sources(recent):
        try:
            ids = {s["doc_id"] for s in json.loads(sources) if isinstance(s, dict) and s.get("doc_id")}
        except (ValueError, TypeError):
            continue
        counts.update(ids)
    return counts


def _tile_question(doc: DocInfo, triage: Triage, normalize: Callable[[str], str]) -> str | None:
    """The guide's title, or its first sample question when triage would not pass the title on
    to retrieval ("房屋漏水与邻里纠纷处理" reads as a dispute for staff); None when nothing passes."""
    for question in (doc.title, *doc.questions):
        norm = normalize(question)
        if norm and not (triage.emergency(norm) or triage.handoff(norm) or triage.small_talk(norm)):
            return question
    return None


def popular_topics(
    kb: KnowledgeBase,
    lang: str,
    journal: Journal | None = None,
    limit: int = 12,
    *,
    recent: int = 1000,
    triage: Triage | None = None,
) -> list[Topic]:
    """The topics grid in ``lang``: at most ``limit`` guides, notices and emergency guides left out.

    Order: most cited in the journal's last ``recent`` answered turns first (see
    :func:`cited_counts`; no journal, no counts), then by category and title, so the grid is
    stable. A topic's question is the guide's title, or its first sample question that the
    triage rules (``triage``; None: the packaged rules the engine uses) let through to
    retrieval; a guide with no such question gets no tile.
    """
    if triage is None:
        triage = Triage.load()
    counts = cited_counts(journal, recent)
    docs = [d for d in kb.documents() if d.lang == lang and not is_notice(d) and not is_emergency_guide(d)]
    docs.sort(key=lambda d: (-counts.get(d.doc_id, 0), d.category or "", d.title, d.doc_id))
    topics: list[Topic] = []
    for doc in docs:
        if len(topics) >= limit:
            break
        question = _tile_question(doc, triage, kb.analyzer.normalize)
        if question is not None:
            topics.append(Topic(doc.doc_id, doc.title, doc.category, question))
    return topics
