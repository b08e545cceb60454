"""Residents' privacy: what they say is stripped of personal data before it is written anywhere.

"最小必要" (the minimum necessary, PIPL art. 6): the journal keeps what staff and the knowledge
base need — what was asked, how it was answered — and not who asked. :class:`Redactor` replaces
each piece of personal data with a typed placeholder (:data:`PLACEHOLDERS`):

* numbers (:mod:`appliance.privacy.numbers`): ID cards, mobiles, landlines, bank cards, in every
  common written form — half- or full-width, Chinese numerals (一三八…, 幺, 〇/零), spaces, dots,
  dashes, brackets, +86/0086;
* words (:mod:`appliance.privacy.words`): e-mails, licence plates, passports, home addresses and
  self-introduced names.

Detection runs on normalised views (NFKC, numerals as digits) that map back to the original, so
the placeholder replaces exactly what was written. The site's own published numbers (its phones,
emergency numbers, the numbers in the guides) are kept: pass them as ``keep``.

One number may be kept on purpose: the one a resident gives for staff to call them back
(:func:`~appliance.privacy.callback.callback_number`, :meth:`Redactor.callback_number`); the text
it was said in is redacted all the same.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from appliance.privacy.callback import callback_number
from appliance.privacy.numbers import canonical_numbers, find_numbers, written_numbers
from appliance.privacy.views import Finding, View, make_view
from appliance.privacy.words import find_addresses, find_words

__all__ = ["PLACEHOLDERS", "Finding", "Redactor", "callback_number", "published_numbers"]

#: kind -> the placeholder written instead.
PLACEHOLDERS: dict[str, str] = {
    "mobile": "〔手机号〕",
    "id": "〔身份证号〕",
    "bank": "〔银行卡号〕",
    "phone": "〔电话〕",
    "email": "〔邮箱〕",
    "plate": "〔车牌〕",
    "passport": "〔护照号〕",
    "address": "〔住址〕",
    "name": "〔姓名〕",
}


def _in_original(view: View, findings: Iterable[Finding]) -> Iterable[Finding]:
    for f in findings:
        start, end = view.span(f.start, f.end)
        yield Finding(start, end, f.kind)


def published_numbers(texts: Iterable[str]) -> set[str]:
    """Every number of 5 or more digits written in ``texts`` (the guides, the site profile), in
    the forms :class:`Redactor` compares by (see :func:`~appliance.privacy.numbers.canonical_numbers`):
    a resident who repeats one keeps it. Pass the result as ``keep``."""
    out: set[str] = set()
    for text in texts:
        for digits in written_numbers(make_view(text, digits=True)):
            if len(digits) >= 5:
                out |= canonical_numbers(digits)
    return out


class Redactor:
    """Replaces residents' personal data in text with typed placeholders.

    Args:
        keep: published numbers that must survive (the site's phones, emergency numbers, the
            guides' numbers): compared digit for digit in every written form, so "010-6234-5678"
            also keeps "(010)62345678", "+86 10 6234 5678" and the bare "62345678".

    Calling it never raises on any ``str``; the text comes back unchanged where nothing is found,
    and redacting twice gives the same text as once.
    """

    def __init__(self, keep: Iterable[str] = ()):
        forms: set[str] = set()
        for k in keep:
            if k:
                forms |= canonical_numbers(make_view(k, digits=True).text)
        self._keep = frozenset(forms)

    def find(self, text: str) -> list[Finding]:
        """The personal data in ``text``: non-overlapping findings in its own coordinates, in
        order (where two detectors overlap, the union is kept, with the earlier one's kind)."""
        digits = make_view(text, digits=True)
        words = make_view(text, digits=False)
        found = sorted(
            [
                *_in_original(digits, find_numbers(digits, self._keep)),
                *_in_original(digits, find_addresses(digits)),
                *_in_original(words, find_words(words)),
            ],
            key=lambda f: (f.start, -(f.end - f.start)),
        )
        merged: list[Finding] = []
        for f in found:
            if merged and f.start < merged[-1].end:
                last = merged[-1]
                if f.end > last.end:
                    merged[-1] = Finding(last.start, f.end, last.kind)
                continue
            merged.append(f)
        return merged

    def callback_number(self, text: str) -> str | None:
        """The number the resident gave in ``text`` for a callback, digits only (``"13812345678"``),
        or None: :func:`~appliance.privacy.callback.callback_number` with this redactor's published
        numbers, which are never a resident's. Never raises on a ``str``."""
        return callback_number(text, self._keep)

    def __call__(self, text: str, *, keep_kinds: Collection[str] = ()) -> str:
        """``text`` with every finding of :meth:`find` replaced by its placeholder, but those of
        ``keep_kinds`` (keys of :data:`PLACEHOLDERS`: an emergency alert keeps the ``"address"``,
        where the duty worker must go)."""
        parts: list[str] = []
        last = 0
        for f in self.find(text):
            if f.kind in keep_kinds:
                continue
            parts += [text[last : f.start], PLACEHOLDERS[f.kind]]
            last = f.end
        parts.append(text[last:])
        return "".join(parts)
