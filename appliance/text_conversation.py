"""Conversation without audio: typed and tapped questions, answers shown as text.

When the appliance has no microphone, no speech models or no speaker, the touchscreen still works
by touch alone. :class:`TextConversation` answers on one worker thread of its own and emits the same
events as the voice loop (:mod:`appliance.conversation`): Heard, ModeDecided, Speaking (the answer's
text as it is released), TurnDone and SessionEnded, so the screen and the robot's body cannot tell
the difference. Guided-explanation narration (:meth:`say`) is shown, not spoken: it waits for the
time a resident needs to read it.

Both this class and :class:`appliance.conversation.Conversation` give a front end the same
controls (:class:`Responder`).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from appliance.dialogue import Session
from appliance.events import Event, Heard, ModeDecided, SessionEnded, Speaking, TurnDone, TurnResult
from appliance.knowledge.text import detect_lang
from appliance.reading import reading_seconds, speed_for
from voice.asr import Transcript

log = logging.getLogger(__name__)


class Responder(Protocol):
    """What a front end (the touchscreen) drives: the voice loop or :class:`TextConversation`."""

    def ask_text(self, question: str) -> None:
        """Answer a typed or tapped question (any thread; returns at once)."""
        ...

    def interrupt(self) -> None:
        """Stop the current answer (the stop-speaking button)."""
        ...

    def push_to_talk(self) -> None:
        """The talk button: listen for one utterance (a no-op without a microphone)."""
        ...

    def end_session(self) -> None:
        """The resident is done: forget the conversation's topic and history."""
        ...

    def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        """Narrate ``text``; block until done or ``cancelled`` is set (a worker thread)."""
        ...


class TextConversation:
    """Answers typed questions on a worker thread, emitting the voice loop's events.

    Args:
        session: dialogue state and the answer engine (answers are recorded in its journal).
        on_event: called on the worker thread with each event.
        reading_cps: narration is shown as long as reading it takes at this many Chinese
            characters a second (English at the same multiple of reading aloud:
            :mod:`appliance.reading`), at least ``min_reading_s``.
    """

    def __init__(
        self,
        session: Session,
        on_event: Callable[[Event], None] | None = None,
        reading_cps: float = 6.0,
        *,
        min_reading_s: float = 1.5,
    ):
        self.session = session
        self.on_event = on_event or (lambda event: None)
        self.reading_cps = reading_cps
        self.min_reading_s = min_reading_s
        self._ids = itertools.count(1)
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._current: threading.Event | None = None
        self._thread = threading.Thread(target=self._work, name="text-conversation", daemon=True)
        self._thread.start()

    # -- controls (any thread) ------------------------------------------------------------------
    def ask_text(self, question: str) -> None:
        """Queue a question; an answer still being written is cancelled first."""
        self.interrupt()
        self._jobs.put(lambda: self._answer(question))

    def interrupt(self) -> None:
        """Stop the answer being written (its text so far stays what the resident saw)."""
        current = self._current
        if current is not None:
            current.set()

    def push_to_talk(self) -> None:
        """No microphone: nothing to do."""

    def end_session(self) -> None:
        """Forget the topic and history; emits :class:`SessionEnded` if anything was said."""
        self._jobs.put(self._end_session)

    def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        """Wait while the narration is read from the screen (or until ``cancelled``)."""
        cancelled.wait(max(self.min_reading_s, reading_seconds(text, lang, speed_for(self.reading_cps))))

    def close(self, timeout: float = 5.0) -> None:
        """Cancel any answer and stop the worker thread."""
        self.interrupt()
        self._jobs.put(None)
        self._thread.join(timeout)

    def __enter__(self) -> TextConversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the worker -----------------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("text turn failed")

    def _end_session(self) -> None:
        if (number := self.session.end()) is not None:
            self.on_event(SessionEnded(number))

    def _answer(self, question: str) -> None:
        if self.session.expired() and self.session.last_activity is not None:
            self._end_session()
        turn_id = next(self._ids)
        cancelled = threading.Event()
        self._current = cancelled
        transcript = Transcript(question, detect_lang(question), 1.0)
        result = TurnResult(turn_id, transcript=transcript)
        self.on_event(Heard(turn_id, transcript))
        shown: list[str] = []

        def on_text(text: str) -> None:
            if not cancelled.is_set():
                shown.append(text)
                self.on_event(Speaking(turn_id, text))

        try:
            answer, query = self.session.ask(
                question,
                on_text=on_text,
                on_mode=lambda mode: self.on_event(ModeDecided(turn_id, mode)),
                cancelled=cancelled.is_set,
            )
            result.answer, result.query = answer, query
            result.interrupted = cancelled.is_set()
            result.heard = "".join(shown) if result.interrupted else answer.answer
            self.session.add(answer, result.heard)
        finally:
            self._current = None
            self.on_event(TurnDone(result))
