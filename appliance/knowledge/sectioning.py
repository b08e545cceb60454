"""Turning a stream of headings and lines into :class:`~appliance.knowledge.model.Section` lists.

Every reader (Markdown, plain text, Word, PDF, HTML, JSON lines) reduces its format to two calls,
``heading(level, text)`` and ``line(text)``, on a :class:`SectionBuilder`; the builder keeps the
heading path, files the text before the first heading under an overview section, collects sample
questions from a 常见问法 section, and splits sections that are too long to retrieve well.
"""

from __future__ import annotations

import re

from appliance.knowledge.model import Document, Section, clean_heading, heading_kind, is_known_heading

_BULLET = re.compile(r"^\s*(?:[-*+•·▪◦]|\d+[.、)）]|[（(]\d+[)）]|[①-⑳])\s*")
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
_NUMBERED_HEADING = re.compile(r"^\s*(?:第?[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十]+[)）])\s*\S")
_INLINE_LABEL = re.compile(r"^\s*【?([^：:】]{2,10})】?\s*[：:]\s*(\S.*)$")


def strip_bullet(line: str) -> str:
    """A list item's text without its bullet or number ("- ", "1. ", "（2）", "①")."""
    return _BULLET.sub("", line).strip()


def split_long(text: str, max_chars: int) -> list[str]:
    """Split ``text`` into parts of at most about ``max_chars`` characters.

    Cuts at line breaks first, then after sentence-final punctuation (。！？；!?;), and only as a last
    resort inside a sentence, so each part stays readable on its own.
    """
    if len(text) <= max_chars:
        return [text]
    units: list[str] = []
    for line in text.split("\n"):
        if len(line) <= max_chars:
            units.append(line)
            continue
        for sentence in _SENTENCE_END.split(line):
            while len(sentence) > max_chars:
                units.append(sentence[:max_chars])
                sentence = sentence[max_chars:]
            if sentence:
                units.append(sentence)
    parts: list[str] = []
    current = ""
    for unit in units:
        joined = f"{current}\n{unit}" if current else unit
        if len(joined) > max_chars and current:
            parts.append(current)
            current = unit
        else:
            current = joined
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def looks_like_heading(line: str) -> bool:
    """A plain-text line that reads as a heading: a standard guide heading, or a short numbered
    heading ("一、申请对象", "（二）补贴标准") without sentence punctuation."""
    s = line.strip()
    if is_known_heading(s):
        return True
    return bool(_NUMBERED_HEADING.match(s)) and len(s) <= 24 and not re.search(r"[。；;，,]$", s)


class SectionBuilder:
    """Accumulates headings and lines of one document and builds it.

    Args:
        title: the document title if already known (front matter, JSON field); otherwise the first
            level-1 heading becomes the title.
        max_section_chars: sections longer than this are split into parts (see :func:`split_long`).
    """

    def __init__(self, title: str | None = None, max_section_chars: int = 900):
        self.title = title.strip() if title else None
        self._max = max_section_chars
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._sections: list[Section] = []
        self.questions: list[str] = []

    def heading(self, level: int, text: str) -> None:
        """A heading of ``level`` (1 = top). The first level-1 heading is the title when none is set."""
        text = clean_heading(text) or text.strip()
        if not text:
            return
        self._flush()
        if level == 1 and self.title is None and not self._sections:
            self.title = text
            self._path = []
            return
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))

    def line(self, text: str) -> None:
        """One line of body text (blank lines are kept as paragraph breaks)."""
        self._lines.append(text.rstrip())

    def plain_line(self, text: str, level: int = 2) -> None:
        """A line from a format without heading markup: recognise headings by their wording.

        "办理地点：明湖大道100号" becomes heading 办理地点 with that text; a bare "所需材料" line or a
        numbered short line ("一、申请条件") becomes a heading at ``level``.
        """
        stripped = text.strip()
        match = _INLINE_LABEL.match(stripped)
        if match and is_known_heading(match.group(1)):
            self.heading(level, match.group(1))
            self.line(match.group(2))
        elif stripped and looks_like_heading(stripped):
            self.heading(level, stripped)
        else:
            self.line(text)

    def _flush(self) -> None:
        body = "\n".join(self._lines).strip()
        self._lines = []
        if not body:
            return
        heading = self._path[-1][1] if self._path else ""
        kind = heading_kind(heading) if heading else "overview"
        if kind == "questions":
            for raw in body.split("\n"):
                question = strip_bullet(raw)
                if question:
                    self.questions.append(question)
            return
        path = tuple(h for _, h in self._path)
        for part in split_long(body, self._max):
            self._sections.append(Section(heading_path=path, text=part, kind=kind))

    def build(self, fallback_title: str, **doc_fields: object) -> Document:
        """Finish and return the document; ``fallback_title`` is used when no title was found.

        ``doc_fields`` are passed to :class:`~appliance.knowledge.model.Document` (key, lang,
        category, questions: extra questions are added before the ones found in the text).
        """
        self._flush()
        title = self.title or fallback_title
        sections = [Section(heading_path=(title, *s.heading_path), text=s.text, kind=s.kind) for s in self._sections]
        extra = list(doc_fields.pop("questions", None) or [])  # type: ignore[arg-type]
        questions = list(dict.fromkeys(q.strip() for q in extra + self.questions if q and q.strip()))
        return Document(title=title, sections=sections, questions=questions, **doc_fields)  # type: ignore[arg-type]
