"""A callback number: the resident's phone number, when their words say it is for calling back.

The number is found by the redactor's own finder (:func:`~appliance.privacy.numbers.find_numbers`,
every written form it knows) and must be a mobile, a landline or a local number
(:func:`~appliance.privacy.numbers.national_number`). It counts as given for a callback only when

* a callback cue comes **before** it — 回电(话), 回个电话, 回我电话, 回复我, 打给我, 打我电话/手机,
  联系我(的电话), 给我打(个)电话, 打电话给我, 电话联系, 留个电话, "call me back", "call me on/at",
  "reach me at/on", "contact me at/on" — with nothing between them but punctuation and label words
  (我的手机号是, "my number is", on, at), or a full stop followed by such a self-label
  ("请回电。我的电话是…"); or
* it is followed, after punctuation only, by a request to call: 请/麻烦/希望/能不能/please … +
  回电, 打给我, 联系(我), 回复, 打这个电话, call ("我的电话是13812345678，请回电",
  "my number is 13812345678, please call").

It does not count where the cue is denied or about someone else (别/不要/没/不…给我打电话,
他/有人/骗子…给我打电话, "don't call me on", "someone …"), where the cue describes a caller
(给我打电话的是…), where words come between the cue and the number (请联系我儿子13812345678),
or where a request follows other words (13812345678这个号码骚扰我，请给我回电): keeping a number
by mistake is worse than a missed callback, which the resident can still ask for at the desk.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from appliance.privacy.numbers import find_numbers, national_number
from appliance.privacy.views import make_view

__all__ = ["callback_number"]

_PHONE_KINDS = ("mobile", "phone")
_WINDOW = 24  # characters searched for a cue before the number
_CLAUSE = 16  # characters before a cue searched for a denial

_BEFORE = re.compile(
    r"回电话?|回个电话|回我个?电话|回复我(?!们)|打给我(?!们)|打我的?(?:电话|手机)|联系我(?!们)(?:的(?:电话|号码|手机|方式))?"
    r"|给我打个?电话|打个?电话给我(?!们)|电话联系|留个电话"
    r"|\b(?:call me back(?: (?:on|at))?|call me (?:on|at)|reach me (?:on|at)|contact me (?:on|at))\b",
    re.IGNORECASE,
)
_SOFT = r"[\s,，、:：;；\-—~～()（）+]"
_END = r"[。.!！?？]"
_LABEL = r"(?:我的|我|的|给|是|为|电话|手机|号码|号|座机|\b(?:my|number|phone|mobile|cell|tel|is|it's|on|at|me)\b)"
_SELF = r"(?:我的?(?:电话|手机|号码|座机)|\bmy (?:phone |mobile )?(?:number|phone|mobile)\b)"
#: What may stand between a cue and the number after it.
_GAP = re.compile(rf"(?:{_SOFT}|{_LABEL})*(?:{_END}{_SOFT}*{_SELF}(?:{_SOFT}|{_LABEL})*)?", re.IGNORECASE)
#: A request to call after the number (only punctuation between them).
_AFTER = re.compile(
    rf"(?:{_SOFT}|{_END})*(?:请|麻烦|劳驾|希望|盼|能不能|可不可以|可以|方便|\b(?:please|pls|kindly)\b)"
    rf"(?P<between>[^。.!！?？]{{0,10}}?)"
    r"(?:回电|回个电话|回我个?电话|回复(?!他|她)|打给我(?!们)|打我的?(?:电话|手机)|给我打个?电话|打这个(?:电话|号码)?"
    r"|联系我(?!们)|联系(?=$|[\s，。,.!！?？])|电话联系|\bcall\b(?! (?:him|her|them|his|their)\b))",
    re.IGNORECASE,
)
#: A cue that is denied, or describes someone else calling.
_DENIED = re.compile(
    r"别|不要|不用|不必|勿|没|(?<![能可要会])不|老是|总是|老给|总给|老打|总打|一直|经常|天天|又|有人|他|她|对方|骗子|别人|陌生"
    r"|\b(?:don'?t|do not|never|stop|not|someone|somebody|he|she|they|keeps?)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r"[，,。.!！?？；;]")


def _denied(text: str, start: int, lo: int) -> bool:
    clause = _CLAUSE_BREAK.split(text[max(lo, start - _CLAUSE) : start])[-1]
    return _DENIED.search(clause) is not None


def _cue_before(text: str, lo: int, start: int) -> bool:
    """A callback cue in ``text[lo:start]`` that leads straight to the number at ``start``."""
    for m in reversed(list(_BEFORE.finditer(text, max(lo, start - _WINDOW), start))):
        if text[m.end() : m.end() + 1] == "的":  # 给我打电话的(人)是…: a caller, not a request
            continue
        if _GAP.fullmatch(text, m.end(), start) and not _denied(text, m.start(), lo):
            return True
    return False


def _cue_after(text: str, end: int, hi: int) -> bool:
    """A request to call right after the number ending at ``end`` (before ``hi``)."""
    m = _AFTER.match(text, end, hi)
    return m is not None and _DENIED.search(m.group("between")) is None


def callback_number(text: str, keep: Collection[str] = ()) -> str | None:
    """The phone number the resident gave in ``text`` for staff to call them back, if any.

    Args:
        text: what the resident said or typed (unredacted).
        keep: published numbers, in the forms :func:`~appliance.privacy.numbers.canonical_numbers`
            gives (:class:`~appliance.privacy.Redactor` passes its own): never a resident's.

    Returns:
        The first number the words give for a callback (see the module docstring), digits only in
        its national form (``"+86 138-1234-5678"`` -> ``"13812345678"``, ``"(010)6234 5678"`` ->
        ``"01062345678"``); None when no number is given for that purpose. Never raises on a ``str``.
    """
    digits = make_view(text, digits=True)
    words = make_view(text, digits=False).text  # same coordinates as ``digits``; cues keep 一/二
    found = list(find_numbers(digits, keep))
    for i, f in enumerate(found):
        if f.kind not in _PHONE_KINDS:
            continue
        number = national_number(re.sub(r"\D", "", digits.text[f.start : f.end]))
        if number is None:
            continue
        lo = found[i - 1].end if i else 0
        hi = found[i + 1].start if i + 1 < len(found) else len(words)
        if _cue_before(words, lo, f.start) or _cue_after(words, f.end, hi):
            return number
    return None
