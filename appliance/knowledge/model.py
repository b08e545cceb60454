"""What the readers produce and the store keeps: documents made of headed sections.

A service guide (办事指南) is a titled document whose sections follow standard headings
(办理条件, 所需材料, 办理流程, 办理地点和时间, 咨询电话 ...). Each :class:`Section` keeps its heading
path (document title first) and a *kind*: the standard role of its heading, used by the answer
engine to pick conditions, materials, place and hours whatever the guide calls them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Heading text (numbering and punctuation stripped) -> kind. Matched as "the heading starts with
# or equals one of these"; first match wins, so the more specific entries come first.
_KIND_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("questions", ("常见问法", "常见问句", "常见提问", "sample questions", "common questions")),
    ("place_hours", ("办理地点和时间", "办理地点及时间", "地点和时间", "where and when")),
    (
        "conditions",
        (
            "办理条件",
            "申请条件",
            "受理条件",
            "申领条件",
            "认定条件",
            "参保条件",
            "登记条件",
            "报名条件",
            "适用对象",
            "服务对象",
            "申请对象",
            "补贴对象",
            "救助对象",
            "享受对象",
            "奖励对象",
            "参保对象",
            "保障对象",
            "适用范围",
            "谁可以",
            "eligibility",
            "who can apply",
            "who is eligible",
        ),
    ),
    (
        "materials",
        (
            "所需材料",
            "申请材料",
            "材料清单",
            "需要材料",
            "提交材料",
            "办理材料",
            "携带材料",
            "需带材料",
            "申报材料",
            "documents to bring",
            "required documents",
            "documents",
            "what to bring",
        ),
    ),
    (
        "process",
        (
            "办理流程",
            "办理程序",
            "办理步骤",
            "申请流程",
            "申请程序",
            "申请步骤",
            "处理步骤",
            "处理流程",
            "流程",
            "程序",
            "步骤",
            "如何办理",
            "steps",
            "how to apply",
            "process",
            "procedure",
        ),
    ),
    (
        "emergency_steps",
        ("应急处置步骤", "处置步骤", "应急措施", "应急处置", "自救", "what to do", "if you are trapped"),
    ),
    ("place", ("办理地点", "受理地点", "办理窗口", "服务地点", "地点", "地址", "where")),
    ("hours", ("办理时间", "受理时间", "办公时间", "服务时间", "开放时间", "时间", "opening hours", "hours", "when")),
    (
        "phone",
        (
            "咨询电话",
            "联系电话",
            "联系方式",
            "咨询方式",
            "求助电话",
            "投诉电话",
            "报修电话",
            "热线",
            "电话",
            "contact",
            "emergency numbers",
            "phone",
        ),
    ),
    (
        "benefits",
        ("补贴标准", "救助标准", "待遇标准", "发放标准", "奖励标准", "保障标准", "标准", "benefits", "amount"),
    ),
    ("fees", ("收费标准", "是否收费", "收费", "费用", "fees", "cost")),
    ("time_limit", ("办结时限", "办理时限", "承诺时限", "法定时限", "时限")),
    ("basis", ("法律依据", "设定依据", "政策依据", "依据")),
    ("tips", ("温馨提示", "注意事项", "特别提示", "提示", "不要做的事", "禁止", "tips", "notes", "what not to do")),
    ("overview", ("概述", "简介", "事项说明", "事项简介", "政策简介", "说明", "overview", "about")),
)

_NUMBERING = re.compile(
    r"^\s*(?:第?[一二三四五六七八九十百]+[、.．章节条]|[（(]\s*[一二三四五六七八九十\d]+\s*[)）]|"
    r"\d+(?:\.\d+)*[、.．)]?|[①-⑳]|[A-Za-z][.)])\s*"
)
# Opening decoration at the start, closing decoration at the end. The end is stripped with a loop:
# a pattern like "[...]+$" retries at every position of a long run and takes quadratic time (a
# 20 KB line of spaces took 6 s).
_DECOR_HEAD = re.compile(r"^[\s【\[〔「『#*]+")
_DECOR_TAIL = frozenset("】]〕」』:：*")

KINDS: tuple[str, ...] = tuple(kind for kind, _ in _KIND_PATTERNS) + ("other",)


def clean_heading(text: str) -> str:
    """A heading without its numbering ("一、", "（二）", "3.") and decoration (【】, colons)."""
    text = _strip_decor(text.strip())
    text = _NUMBERING.sub("", text)
    return _strip_decor(text).strip()


def _strip_decor(text: str) -> str:
    """``text`` without its leading opening and trailing closing decoration, in linear time."""
    text = _DECOR_HEAD.sub("", text, count=1)
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _DECOR_TAIL):
        end -= 1
    return text[:end]


def heading_kind(heading: str) -> str:
    """The standard kind of a section heading (one of :data:`KINDS`), 'other' if none fits."""
    h = clean_heading(heading).lower()
    for kind, prefixes in _KIND_PATTERNS:
        if any(h.startswith(p) for p in prefixes):
            return kind
    return "other"


def is_known_heading(line: str, max_len: int = 16) -> bool:
    """True when a short plain-text line is one of the standard guide headings.

    Used by the plain-text, PDF and Word readers, whose documents mark headings only by wording.
    """
    h = clean_heading(line)
    return 0 < len(h) <= max_len and heading_kind(h) != "other"


@dataclass(frozen=True)
class Section:
    """A headed piece of a document.

    Attributes:
        heading_path: the headings above this text, outermost first; starts with the document title.
        text: the section's body as written (markup removed, line breaks kept).
        kind: the standard role of the innermost heading (see :func:`heading_kind`); 'overview' for
            text before the first heading.
    """

    heading_path: tuple[str, ...]
    text: str
    kind: str = "other"

    @property
    def heading(self) -> str:
        """The innermost heading."""
        return self.heading_path[-1] if self.heading_path else ""


@dataclass
class Document:
    """One service guide as read from a file (a JSON-lines file holds many).

    Attributes:
        title: the guide's title; the key residents' questions are judged against.
        sections: the body, in reading order, sample-question sections excluded.
        questions: sample questions ("常见问法"), from the front matter, a JSON field or a section.
        key: a stable id given by the source (front matter ``id``, JSON ``id``), else None.
        lang: 'zh' or 'en'.
        category: optional category label.
    """

    title: str
    sections: list[Section]
    questions: list[str] = field(default_factory=list)
    key: str | None = None
    lang: str = "zh"
    category: str | None = None
