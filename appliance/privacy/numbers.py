"""Residents' numbers in a digit view: ID cards, mobiles, landlines, bank cards.

A *run* is a stretch of digits joined by at most three separators at a time (spaces, dots,
dashes, brackets), with an optional leading ``+``/``(`` and a trailing ``X``: ``138 1234 5678``,
``(010)62345678``, ``+86-138-1234-5678``, ``110101 19900307 123X``. A run is split only where its
separator holds a space or a bracket, never at a dot or a dash (``3.62345678`` is a decimal, not
a phone number); the longest stretch of pieces that is a number wins, from the left.

What counts (checked in this order):

* **身份证号** — 18 characters: a province code (GB/T 2260, first two digits), a real birth date
  and the GB 11643-1999 check character (ISO 7064 MOD 11-2, ``stdnum.cn.ric``); or the old
  15-digit form with a province code and a real YYMMDD date. The county table is not consulted:
  numbers issued under abolished county codes are still personal.
* **手机号** — 11 digits ``1[3-9]xxxxxxxxx`` (the MIIT mobile numbering plan), optionally after
  ``+86``/``0086``/``86``.
* **电话** — a landline with its area code: ``010``/``02x`` then 7–8 digits, or ``0xxx`` then 7–8
  digits, the local part starting 2–9 (also after ``+86`` without the trunk 0).
* **银行卡号** — 13–19 digits passing the Luhn check (ISO/IEC 7812-1 Annex B, ``stdnum.luhn``),
  one piece or grouped by four.
* **电话** — a bare local number: 7–8 digits starting 2–9, each piece at least 3 digits long, and
  not a date (20240115, 2024-1-15) or a span of years (2020-2024).

The last two (and the cue rule below) are *weak*: they are not applied when the number is part
of a code (letters or digits touching it), a negative number (``-62345678``), a price (``¥``), a
count (a unit such as 元/人/年/号/% right after it), an ordinal (第…), or when the nearest label
in the 16 characters before it names a non-personal number (订单号, 编号, 受理号, 快递单号, 邮编,
order, ref, No., #…). A personal label there (身份证, 卡号, 电话, 手机, 微信, phone, call…) makes
a number of the wrong shape count too (a mistyped ID number, a mobile missing a digit), as the
kind the label names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric

from appliance.privacy.views import Finding, View

#: First two digits of a resident ID: the provinces of GB/T 2260 (71 Taiwan, 81/82 Hong Kong and
#: Macao; 81/82/83 also head the residence permits of their residents).
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
KEEP = "keep"

# Linear: each repetition takes at least one digit; separators are bounded.
_RUN = re.compile(r"[+(]{0,2}\d(?:[ \t\u00a0.()\-]{0,3}\d)*[Xx]?")
_SPLIT = re.compile(r"[\d]+[Xx]?")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0(?:10|2\d|[3-9]\d\d)[2-9]\d{6,7}")
_LOCAL = re.compile(r"[2-9]\d{6,7}")
_UNITS = frozenset("元块角分人个位名次年月日号岁天周秒米斤克吨件份张条户套间栋层楼室万亿千百%‰℃度倍笔台辆只")
_CURRENCY = frozenset("¥$€£")
_CUE = re.compile(
    r"(?P<id>身份证(?:号码|号)?|证件(?:号码|号)?|身份号码?|id card|id no|id number|identity)"
    r"|(?P<bank>银行卡(?:号码|号)?|卡号码?|账号|帐号|card number|card no|account|acct)"
    r"|(?P<phone>电话(?:号码)?|手机(?:号码|号)?|号码|座机|联系方式|微信号?|tel|phone|mobile|cell|call|whatsapp|wechat|contact)"
    r"|(?P<other>(?:订单|流水|受理|工单|快递|运单|发票|合同|批次|条码|邮编|邮政编码|房间|门牌)(?:号码|编号|号)?|"
    r"(?:单|编|案|文|序|型)号|order|ref|invoice|tracking|no\.|#|第)"
)
_CUE_WINDOW = 16
_MAX_DIGITS = 20


@dataclass(frozen=True)
class _Group:
    start: int  # in the view
    end: int
    digits: str
    sep: str  # the separators before it ('' for the first)


def _groups(view: View, start: int, end: int) -> list[_Group]:
    groups: list[_Group] = []
    last = start
    for m in _SPLIT.finditer(view.text, start, end):
        groups.append(_Group(m.start(), m.end(), m.group().upper(), view.text[last : m.start()] if groups else ""))
        last = m.end()
    return groups


def _hard(sep: str) -> bool:
    """A separator a run may be split at: a space or a bracket (not a dot or a dash)."""
    return any(c in " \t\u00a0()" for c in sep)


def _date(y: str, m: str, d: str) -> bool:
    try:
        return 1900 <= int(y) <= 2099 and bool(dt.date(int(y), int(m), int(d)))
    except ValueError:
        return False


def is_id_number(d: str) -> bool:
    """True for an 18-character resident ID (province, birth date, GB 11643-1999 check character)
    or a 15-digit first-generation one (province, YYMMDD birth date); ``d`` has no separators."""
    if len(d) == 18 and d[:17].isdigit() and d[17] in "0123456789X" and d[:2] in PROVINCES:
        return _date(d[6:10], d[10:12], d[12:14]) and ric.calc_check_digit(d) == d[17]
    if len(d) == 15 and d.isdigit() and d[:2] in PROVINCES:
        return _date("19" + d[6:8], d[8:10], d[10:12])
    return False


def _strong(d: str) -> str | None:
    if is_id_number(d):
        return "id"
    if _MOBILE.fullmatch(d):
        return "mobile"
    if _LANDLINE.fullmatch(d):
        return "phone"
    return None


def canonical_numbers(text: str) -> set[str]:
    """The digit strings a published number is compared by: its digits; without a +86/0086
    prefix; and a landline's local part too (a resident may say it without the area code)."""
    d = re.sub(r"\D", "", text)
    forms = {d} if d else set()
    for prefix in ("0086", "86"):
        if d.startswith(prefix) and len(d) > len(prefix) + 6:
            rest = d[len(prefix) :]
            forms.update({rest, "0" + rest} if not rest.startswith("0") else {rest})
    for f in list(forms):
        if _LANDLINE.fullmatch(f):
            forms.add(f[3:] if f[1] in "12" else f[4:])
    return forms


def national_number(digits: str) -> str | None:
    """A phone number's digits (no separators) in the form a staff member dials: a mobile
    (``1[3-9]`` + 9 digits), a landline with its area code (``0…``) or a local number (7–8
    digits, starting 2–9), by the shapes above; a ``+86``/``0086``/``86`` prefix is dropped (a
    landline gets its trunk 0 back). None for anything else (an ID or bank-card number, a mobile
    missing a digit)."""
    forms = [digits]
    for prefix in ("0086", "86"):
        if digits.startswith(prefix):
            rest = digits[len(prefix) :]
            forms += [rest, "0" + rest]
    for form in forms:
        if _MOBILE.fullmatch(form) or _LANDLINE.fullmatch(form):
            return form
    return digits if _LOCAL.fullmatch(digits) else None


@dataclass(frozen=True)
class _Context:
    weak_blocked: bool
    cue: str | None  # 'id', 'bank', 'phone' or None


def _context(text: str, start: int, end: int) -> _Context:
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    blocked = (
        (before.isascii() and (before.isalnum() or before == "_"))
        or (after.isascii() and after.isalnum())
        or (before == "-" and (start < 2 or text[start - 2].isspace() or text[start - 2] in "=(:：,，为是约至到负减"))
        or before in _CURRENCY
        or before == "第"
        or after in _UNITS
    )
    window = text[max(0, start - _CUE_WINDOW) : start].lower()
    labels = list(_CUE.finditer(window))
    cue = labels[-1].lastgroup if labels else None  # the nearest label
    if cue == "other":
        return _Context(True, None)
    return _Context(blocked, cue)


def _classify(groups: list[_Group], plus: bool, text: str, keep: Collection[str]) -> str | None:
    d = "".join(g.digits for g in groups)
    if d.endswith("X"):
        if is_id_number(d):
            return KEEP if d in keep else "id"
        d = d[:-1]  # a mistyped ID number (the label decides), or a letter after the number
    if any("." in g.sep for g in groups) and any(len(g.digits) < 3 for g in groups):
        return None  # a decimal, a version, a dotted date
    national = None
    if d.startswith("0086"):
        national = d[4:]
    elif d.startswith("86") and (plus or groups[0].digits == "86" or _MOBILE.fullmatch(d[2:])):
        national = d[2:]
    if national is not None:
        for form in (national, "0" + national):
            kind = _strong(form)
            if kind in ("mobile", "phone"):
                return KEEP if form in keep else kind
    kind = _strong(d)
    if kind is not None:
        return KEEP if d in keep else kind
    ctx = _context(text, groups[0].start, groups[-1].end)
    if ctx.weak_blocked:
        return None
    if d in keep:
        return KEEP
    lengths = [len(g.digits.rstrip("X")) for g in groups]
    if (
        d.isdigit()
        and 13 <= len(d) <= 19
        and (len(groups) == 1 or all(n == 4 for n in lengths[:-1]))
        and luhn.is_valid(d)
    ):
        return "bank"
    if _LOCAL.fullmatch(d) and min(lengths) >= 3 and not _date_like([g.digits.rstrip("X") for g in groups]):
        return "phone"
    if ctx.cue == "id" and len(d) >= 6 and d.isdigit():
        return "id"
    if ctx.cue == "bank" and len(d) >= 8 and d.isdigit():
        return "bank"
    if ctx.cue == "phone" and len(d) >= 7 and d.isdigit():
        return "mobile" if d.startswith("1") else "phone"
    return None


def _date_like(parts: list[str]) -> bool:
    """A date (20240115, 2024-01-15, 2024 1 15) or a span of years (2020-2024)."""
    if len(parts) == 1 and len(parts[0]) == 8:
        p = parts[0]
        return _date(p[:4], p[4:6], p[6:])
    if len(parts) == 3 and len(parts[0]) == 4 and len(parts[1]) <= 2 and len(parts[2]) <= 2:
        return _date(*parts)
    if len(parts) == 2 and all(len(p) == 4 and 1900 <= int(p) <= 2099 for p in parts):
        return True
    return False


def _units(groups: list[_Group]) -> list[list[_Group]]:
    """The stretches of a run's groups that it may not be split inside."""
    units: list[list[_Group]] = []
    for g in groups:
        if units and not _hard(g.sep):
            units[-1].append(g)
        else:
            units.append([g])
    return units


def written_numbers(view: View) -> Iterator[str]:
    """The digits of every run in a digit view, and of each of its pieces split at spaces and
    brackets (for collecting published numbers)."""
    for run in _RUN.finditer(view.text):
        groups = _groups(view, run.start(), run.end())
        yield "".join(g.digits for g in groups)
        for unit in _units(groups):
            yield "".join(g.digits for g in unit)


def find_numbers(view: View, keep: Collection[str] = ()) -> Iterator[Finding]:
    """The residents' numbers in a digit view (:func:`~appliance.privacy.views.make_view` with
    ``digits=True``), as findings in the view's coordinates.

    Args:
        view: the digit view of the text.
        keep: digit strings that are published and stay (see :func:`canonical_numbers`).
    """
    text = view.text
    for run in _RUN.finditer(text):
        groups = _groups(view, run.start(), run.end())
        prefix_end = groups[0].start
        plus = "+" in text[run.start() : prefix_end]
        units = _units(groups)
        i = 0
        while i < len(units):
            j, taken = i, None
            total = 0
            ends: list[int] = []
            while j < len(units) and total + sum(len(g.digits) for g in units[j]) <= _MAX_DIGITS:
                total += sum(len(g.digits) for g in units[j])
                ends.append(j)
                j += 1
            for last in reversed(ends):
                flat = [g for u in units[i : last + 1] for g in u]
                kind = _classify(flat, plus and i == 0, text, keep)
                if kind is not None:
                    taken = (last, kind, flat)
                    break
            if taken is None:
                i += 1
                continue
            last, kind, flat = taken
            if kind != KEEP:
                start = run.start() if i == 0 else flat[0].start
                end = flat[-1].end
                if i == 0 and "(" in text[start:prefix_end] and ")" not in text[start:end]:
                    start = prefix_end  # "电话(62345678)": leave the unmatched bracket
                yield Finding(start, end, kind)
            i = last + 1
