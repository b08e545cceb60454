"""Normalised views of a resident's text that remember where each character came from.

Residents write the same number many ways: half- or full-width digits (１３８), Chinese numerals
read digit by digit (一三八, 幺 for 1, 〇/零 for 0), full-width brackets and dashes. The detectors
match on a normalised copy; :attr:`View.origin` maps every character of that copy back to the
original, so the placeholder replaces exactly what the resident wrote and nothing else.

Normalisation is Unicode NFKC (UAX #15) applied character by character (so the map stays
one-to-one or one-to-many), then dashes and middle dots folded to one form; the *digit* view also
turns the digit-by-digit Chinese numerals into ASCII digits (十/百/千 are left alone: "十二" is a
count, not a digit string).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Dashes and minus signs NFKC leaves alone (‐ ‑ ‒ – — ― − ﹘), and middle dots (· • ・ ‧).
_FOLD = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58", "-"),
        **dict.fromkeys("\u2022\u30fb\u2027\uff65", "·"),
    }
)
# Chinese numerals read digit by digit (phone numbers, ID numbers), including the financial
# forms (大写数字) and 幺, the spoken 1.
_NUMERALS = str.maketrans(
    {
        **dict.fromkeys("〇零", "0"),
        **dict.fromkeys("一幺壹", "1"),
        **dict.fromkeys("二贰", "2"),
        **dict.fromkeys("三叁", "3"),
        **dict.fromkeys("四肆", "4"),
        **dict.fromkeys("五伍", "5"),
        **dict.fromkeys("六陆", "6"),
        **dict.fromkeys("七柒", "7"),
        **dict.fromkeys("八捌", "8"),
        **dict.fromkeys("九玖", "9"),
    }
)


# Runs of characters NFKC leaves alone (ASCII, the CJK Unified Ideographs), or one other character.
_STABLE_OR_ONE = re.compile(r"[\x00-\x7f\u4e00-\u9fff]+|.", re.DOTALL)


@dataclass(frozen=True)
class View:
    """A normalised copy of a text.

    Attributes:
        text: the normalised text.
        origin: for each character of ``text``, the index of the original character it came from
            (non-decreasing; several entries share one index where NFKC expanded a character).
    """

    text: str
    origin: Sequence[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's [start, end) covering this view's [start, end) (end > start)."""
        return self.origin[start], self.origin[end - 1] + 1


def make_view(text: str, *, digits: bool) -> View:
    """The NFKC view of ``text``; with ``digits`` the Chinese numerals are ASCII digits too.

    Returns:
        A :class:`View` of the same text, whose characters map back into ``text``.
    """
    if unicodedata.is_normalized("NFKC", text):  # the usual case: one character for one
        view = text.translate(_FOLD)
        return View(view.translate(_NUMERALS) if digits else view, range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for m in _STABLE_OR_ONE.finditer(text):
        piece, i = m.group(), m.start()
        if len(piece) > 1 or piece.isascii() or "\u4e00" <= piece <= "\u9fff":  # NFKC leaves these alone
            out.append(piece)
            origin.extend(range(i, i + len(piece)))
            continue
        norm = unicodedata.normalize("NFKC", piece).translate(_FOLD)
        out.append(norm)
        origin.extend([i] * len(norm))
    view = "".join(out)
    return View(view.translate(_NUMERALS) if digits else view, origin)


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text.

    Attributes:
        start: index of its first character (in the text that was searched).
        end: index one past its last character.
        kind: what it is: one of the keys of :data:`appliance.privacy.PLACEHOLDERS`.
    """

    start: int
    end: int
    kind: str
