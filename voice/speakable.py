"""Text as it should be spoken: what the screen shows is not always what the speaker should say.

* citation marks ``[1]`` and Markdown symbols are dropped;
* book-title marks 《》 and brackets are dropped (their content is kept);
* phone numbers and other long digit strings are read **digit by digit**, in groups, as Chinese
  speakers read them (1 as 幺, the convention for phone numbers in Mandarin, so 1 and 7 are not
  confused); a TTS front end would otherwise read 010-0000-1234 as an amount.
"""

from __future__ import annotations

import re

_CITATION = re.compile(r"\s*[\[【［]\s*\d{1,2}(?:\s*[,，、]\s*\d{1,2})*\s*[\]】］]")
_MARKUP = re.compile(r"[*#`_>|]+|[《》〈〉「」『』]")
# Phone-like: 5+ digits, possibly in dash/space-separated groups (010-0000-1234, 12345, 400 800 1234).
_PHONE = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{2,4}(?:[-\s]\d{2,8}){1,3}|\d{5,})(?!\d|\.\d)")
_ZH_DIGITS = "零幺二三四五六七八九"


def _read_digits(match: re.Match[str], lang: str) -> str:
    groups = re.split(r"[-\s]+", match.group())
    if lang == "en":
        return ", ".join(" ".join(g) for g in groups)
    return "，".join("".join(_ZH_DIGITS[int(d)] for d in g) for g in groups)


def speakable(text: str, lang: str = "zh") -> str:
    """The text to synthesise for ``text`` (see the module docstring).

    Args:
        lang: 'zh' or 'en': how digit strings are read out.
    """
    text = _CITATION.sub("", text)
    text = _MARKUP.sub("", text)
    text = _PHONE.sub(lambda m: _read_digits(m, lang), text)
    return re.sub(r"\s+", " ", text).strip()
