"""The on-screen keyboard's pinyin composition (QML's ``kiosk.keyboard``).

Letters typed on the QML keyboard are composed here; :class:`ui.pinyin.PinyinIME` offers Chinese
candidates, with the knowledge base's own vocabulary (service titles, colloquial synonyms, the
words of residents' sample questions) ranked first, so "sbk" offers 社保卡. The IME is built on a
worker thread at start; until it is ready, letters are typed as they are. Lookups also run on a
worker thread, and a result that arrives after the composition changed is dropped. A device with
a system input method (fcitx, ibus via ``QT_IM_MODULE``) can use it in the same text field.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot

from ui.bridge import Background
from ui.services import KioskServices

log = logging.getLogger(__name__)


def kb_vocabulary(services: KioskServices) -> list[str]:
    """Words residents are likely to type: titles, synonyms (both sides) and question words."""
    import jieba

    from appliance.site import load_synonyms

    words: set[str] = set()
    known = jieba.dt.FREQ if jieba.dt.initialized else None
    if known is None:
        jieba.initialize()
        known = jieba.dt.FREQ
    for doc in services.kb.documents():
        if doc.lang == "en":
            continue
        words.add(doc.title)
        words.update(w for w in jieba.lcut(doc.title) if len(w) >= 2)
        # Sample questions are residents' own words, typos included ("射保卡"): only dictionary
        # words from them.
        for question in doc.questions:
            words.update(w for w in jieba.lcut(question, HMM=False) if len(w) >= 2 and known.get(w))
    for official, colloquial in load_synonyms(services.site.synonyms_file).items():
        words.add(official)
        words.update(colloquial)
    return sorted(w for w in words if w and all("\u4e00" <= ch <= "\u9fff" for ch in w))


class KeyboardModel(QObject):
    """Pinyin composition state: the letters, their syllables, the candidates."""

    changed = Signal()
    #: text to insert at the cursor (a chosen candidate, or letters typed as they are)
    commit = Signal(str)

    def __init__(self, services: KioskServices, background: Background, parent: QObject | None = None):
        super().__init__(parent)
        self.services = services
        self.background = background
        self.ime = None
        self._composing = ""
        self._candidates: list[str] = []
        self._segmented = ""
        self._candidates_for = ""  # the letters the candidates were looked up for
        self._seq = 0
        background.submit(self._build, self._built, lambda exc: log.warning("pinyin input unavailable: %s", exc))

    def _build(self):
        from ui.pinyin import PinyinIME

        return PinyinIME(extra_words=kb_vocabulary(self.services), cache_dir=self.services.settings.cache_dir)

    def _built(self, ime) -> None:
        self.ime = ime
        self.changed.emit()
        if self._composing:
            self._lookup()

    def _get_state(self) -> dict[str, Any]:
        return {
            "composing": self._composing,
            "segmented": self._segmented or self._composing,
            "candidates": self._candidates,
            "candidatesFor": self._candidates_for,
            "ready": self.ime is not None,
        }

    state = Property("QVariantMap", _get_state, notify=changed)

    @Slot(str)
    def key(self, letter: str) -> None:
        """A letter key (a-z): add it to the composition; other text is committed at once."""
        letter = letter.lower()
        if len(letter) == 1 and "a" <= letter <= "z" and self.ime is not None:
            self._composing += letter
            self._lookup()
        else:
            self._flush()
            self.commit.emit(letter)

    @Slot(result=bool)
    def backspace(self) -> bool:
        """Remove the last composed letter; False when there was none (QML deletes text then)."""
        if not self._composing:
            return False
        self._composing = self._composing[:-1]
        self._lookup()
        return True

    @Slot(int)
    def choose(self, index: int) -> None:
        """Commit candidate ``index``; letters it did not cover stay composing."""
        if not 0 <= index < len(self._candidates):
            return
        chosen = self._candidates[index]
        rest = self.ime.commit(self._composing, chosen)
        self.commit.emit(chosen)
        self._composing = rest
        self._lookup()

    @Slot()
    def space(self) -> None:
        """Space: the first candidate while composing, else a space."""
        if self._composing and self._candidates:
            self.choose(0)
        else:
            self._flush()
            self.commit.emit(" ")

    @Slot()
    def clear(self) -> None:
        """Drop the composition."""
        self._composing, self._candidates, self._segmented, self._candidates_for = "", [], "", ""
        self._seq += 1
        self.changed.emit()

    def _flush(self) -> None:
        """Commit the letters themselves (English words, a name in pinyin)."""
        if self._composing:
            self.commit.emit(self._composing)
        self.clear()

    def _lookup(self) -> None:
        self._seq += 1
        seq, letters, ime = self._seq, self._composing, self.ime
        if not letters or ime is None:
            self._candidates, self._segmented, self._candidates_for = [], "", ""
            self.changed.emit()
            return
        self.changed.emit()

        def done(result: tuple[list[str], str]) -> None:
            if seq == self._seq:
                self._candidates, self._segmented = result
                self._candidates_for = letters
                self.changed.emit()

        self.background.submit(lambda: (ime.candidates(letters, 10), ime.segment(letters)), done)
