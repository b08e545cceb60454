"""Text as it should be spoken: what the screen shows is not always what the speaker should say.

The rules below were found by the round-trip check of ``kiosk bench voice`` (synthesise, transcribe
with Whisper, compare) and by reading espeak-ng's phonemes (``espeak-ng -x``), which is also the
front end of Piper's voices:

* citation marks ``[1]`` and Markdown symbols are dropped;
* book-title marks 《》 and brackets are dropped (their content is kept);
* dates ``2026-10-15`` are said as dates (2026年10月15日 / October 15, 2026), not as a subtraction;
* clock times are said as times: espeak-ng reads ``9:00`` as "nine zero zero" and ``9:00`` as
  九零零. Chinese: 9点, 8点半, 13点45分; English, in the 12-hour form people say: 9 a.m.,
  12 noon, 5:30 p.m.;
* ranges ``9:00–12:00``, ``100–500元``, ``Mon–Fri`` get their "to" (至 / to): the en dash is
  silent in both voices;
* ``20%`` is 百分之20 / 20 percent (the Chinese voice switches to English for "%"), ``¥20`` is
  20元 / 20 yuan (the English voice says "yen");
* phone numbers and other long digit strings are read **digit by digit**, in groups, as Chinese
  speakers read them (1 as 幺, the convention for phone numbers in Mandarin, so 1 and 7 are not
  confused); a TTS front end would otherwise read 010-0000-1234 as an amount.
"""

from __future__ import annotations

import re

_CITATION = re.compile(r"\s*[\[【［]\s*\d{1,2}(?:\s*[,，、]\s*\d{1,2})*\s*[\]】］]")
_MARKUP = re.compile(r"[*#`_>|]+|[《》〈〉「」『』]")
_DATE = re.compile(r"(?<![\d.-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d-])")
_TIME = r"(?:[01]?\d|2[0-4])[:：][0-5]\d"
_RANGE_SEP = r"\s*[–—~～]\s*|-"  # a hyphen joins a range only where no phone number can be meant
_TIME_RANGE = re.compile(rf"(?<!\d)(?<!\d[:：])({_TIME})(?:({_RANGE_SEP})({_TIME}))?(?!\d|[:：]\d)")
# Two numbers joined by a dash: a hyphenated pair of short numbers (1-3, 10-15) is a range, not a
# phone number; an en dash, tilde or wave dash always is.
_NUMBER_RANGE = re.compile(r"(?<![\d.-])(\d{1,4}(?:\.\d+)?)(?:\s*[–—~～]\s*|-)(\d{1,4}(?:\.\d+)?)(?![\d-]|\.\d)")
_WORD_RANGE = re.compile(r"(?<=[A-Za-z])\s*[–—]\s*(?=[A-Za-z])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_YUAN = re.compile(r"[¥￥]\s*(\d+(?:\.\d+)?)")
# Phone-like: 5+ digits, possibly in dash/space-separated groups (010-0000-1234, 12345, 400 800 1234).
_PHONE = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{2,4}(?:[-\s]\d{2,8}){1,3}|\d{5,})(?!\d|\.\d)")
_ZH_DIGITS = "零幺二三四五六七八九"
_MONTHS = "January February March April May June July August September October November December".split()
_DAYS = dict(Mon="Monday", Tue="Tuesday", Wed="Wednesday", Thu="Thursday", Fri="Friday", Sat="Saturday", Sun="Sunday")
_DAY = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b\.?")


def _read_digits(match: re.Match[str], lang: str) -> str:
    groups = re.split(r"[-\s]+", match.group())
    if lang == "en":
        return ", ".join(" ".join(g) for g in groups)
    return "，".join("".join(_ZH_DIGITS[int(d)] for d in g) for g in groups)


def _date(match: re.Match[str], lang: str) -> str:
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group()
    return f"{_MONTHS[month - 1]} {day}, {year}" if lang == "en" else f"{year}年{month}月{day}日"


def say_time(hour: int, minute: int, lang: str) -> str:
    """A clock time as said: ``(13, 30, 'zh')`` → 13点半, ``(13, 30, 'en')`` → 1:30 p.m.

    Args:
        hour: 0–24 (24 is midnight at the end of a day); minute: 0–59.
        lang: 'zh' (24-hour, 点/分, as notices in Chinese are read) or 'en' (12-hour, a.m./p.m.).
    """
    if lang != "en":
        return f"{hour}点" + ("" if minute == 0 else "半" if minute == 30 else f"{minute:02d}分")
    if hour in (0, 24) and minute == 0:
        return "midnight"
    if hour == 12 and minute == 0:
        return "12 noon"
    h12 = hour % 12 or 12
    return (f"{h12}" if minute == 0 else f"{h12}:{minute:02d}") + (" a.m." if hour < 12 or hour == 24 else " p.m.")


def _times(match: re.Match[str], lang: str) -> str:
    start, sep, end = match.groups()
    said = [say_time(*(int(x) for x in re.split("[:：]", t)), lang) for t in (start, end) if t]
    return (" to " if lang == "en" else "至").join(said)


def _number_range(match: re.Match[str], lang: str) -> str:
    low, high = match.groups()
    if float(low) >= float(high):  # 12-1 is no range; leave it to the other rules
        return match.group()
    return f"{low} to {high}" if lang == "en" else f"{low}至{high}"


def speakable(text: str, lang: str = "zh") -> str:
    """The text to synthesise for ``text`` (see the module docstring).

    Args:
        lang: 'zh' or 'en': how numbers, times, dates and symbols are read out.
    """
    text = _MARKUP.sub("", _CITATION.sub("", text))
    text = _DATE.sub(lambda m: _date(m, lang), text)
    text = _TIME_RANGE.sub(lambda m: _times(m, lang), text)
    text = _NUMBER_RANGE.sub(lambda m: _number_range(m, lang), text)
    text = _PERCENT.sub(r"\1 percent" if lang == "en" else r"百分之\1", text)
    text = _YUAN.sub(r"\1 yuan" if lang == "en" else r"\1元", text)
    if lang == "en":
        text = _WORD_RANGE.sub(" to ", text)
        text = _DAY.sub(lambda m: _DAYS[m.group(1)], text)
    text = _PHONE.sub(lambda m: _read_digits(m, lang), text)
    return re.sub(r"\s+", " ", text).strip()
