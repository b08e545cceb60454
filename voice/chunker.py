"""Sentence streaming for TTS: cut an answer's text stream into pieces worth synthesising now.

Text arrives in fragments (LLM tokens, or a whole extractive answer at once). Each piece ends at a
sentence boundary (。！？；… and ``. ! ? ;`` followed by a space or the end) so it can be
synthesised and queued while the rest is still being generated. Two exceptions keep latency low
and pieces short:

* the **first** piece may end at a clause boundary (，、：, ``,`` ``:``) once it has
  ``first_min_chars``: a short first clause is spoken while the model writes the rest;
* a piece that grows past ``max_chars`` without a sentence end is cut at its last clause boundary.

A full stop between digits ("3.5"), after a list number ("1. ") or a comma inside a number
("1,000") is not a boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SENTENCE_END = re.compile(r"[。！？!?；;…\n]+[”’」』）)]*|(?<!\d)\.(?=\s)")
_CLAUSE_END = re.compile(r"[，、：,:](?!\d)")


class SentenceChunker:
    """Accumulates streamed text and yields speakable pieces.

    Args:
        first_min_chars: the first piece may end at a clause boundary once it has this many
            characters (4 ≈ the first half-second of speech in Chinese).
        max_chars: a piece longer than this is cut at its last clause boundary.
    """

    def __init__(self, first_min_chars: int = 4, max_chars: int = 60):
        self.first_min_chars = first_min_chars
        self.max_chars = max_chars
        self._buffer = ""
        self._emitted = 0

    def feed(self, text: str) -> Iterator[str]:
        """Add text; yield the pieces that are complete."""
        self._buffer += text
        while True:
            cut = self._next_cut()
            if cut is None:
                return
            piece, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if piece.strip():
                self._emitted += 1
                yield piece.strip()

    def flush(self) -> Iterator[str]:
        """End of the text: yield what is left."""
        piece, self._buffer = self._buffer.strip(), ""
        if piece:
            self._emitted += 1
            yield piece

    def _next_cut(self) -> int | None:
        """Where the next piece ends in the buffer, or None to wait for more text.

        A boundary is only taken when the character after it is known (a "." at the end of the
        buffer may be a decimal point whose digits are still coming).
        """
        buf = self._buffer
        m = _SENTENCE_END.search(buf)
        cut = m.end() if m else None
        if self._emitted == 0:
            for c in _CLAUSE_END.finditer(buf, 0, cut or len(buf)):
                if c.end() >= self.first_min_chars and c.end() < len(buf):
                    return c.end()
        if cut is not None:
            return cut
        if len(buf) > self.max_chars:
            cuts = [c.end() for c in _CLAUSE_END.finditer(buf, 0, self.max_chars) if c.end() < len(buf)]
            return cuts[-1] if cuts else self.max_chars
        return None
