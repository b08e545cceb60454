"""How long a text takes to read: one model for every narrator without a voice.

Reading aloud runs at about 4.5 Chinese characters a second (broadcast Mandarin is 240–300
characters a minute) and 2.5 English words a second (150 words a minute, the usual figure for
speech). A screen that shows narration instead of speaking it waits that long, divided by a
speed: ``[ui] reading_cps`` is the Chinese rate a kiosk's residents read at, and English is read
faster or slower by the same factor.
"""

from __future__ import annotations

ZH_CHARS_PER_S = 4.5
EN_WORDS_PER_S = 2.5


def reading_seconds(text: str, lang: str, speed: float = 1.0) -> float:
    """Seconds to read ``text`` (``lang`` 'en': counted in words, else in characters) at
    ``speed`` times the pace of reading aloud.

    Raises:
        ValueError: ``speed`` is not positive.
    """
    if speed <= 0:
        raise ValueError(f"reading speed must be positive, not {speed}")
    if lang == "en":
        return len(text.split()) / EN_WORDS_PER_S / speed
    return len(text) / ZH_CHARS_PER_S / speed


def speed_for(chars_per_s: float) -> float:
    """The speed (a multiple of reading aloud) at which Chinese is read at ``chars_per_s``."""
    return chars_per_s / ZH_CHARS_PER_S
