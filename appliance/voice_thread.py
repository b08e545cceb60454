"""The voice loop on a thread of its own, for front ends that own the main thread (the Qt UI)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from appliance.conversation import Conversation
from voice.audio import AudioError, AudioSource

log = logging.getLogger(__name__)


class VoiceThread:
    """Runs :meth:`Conversation.run` on ``source`` in a daemon thread with its own asyncio loop.

    Args:
        on_error: called (on the voice thread) with the message when the audio fails (a
            microphone unplugged); the front end carries on by touch.
    """

    def __init__(self, conversation: Conversation, source: AudioSource, on_error: Callable[[str], None] | None = None):
        self.conversation = conversation
        self.source = source
        self.on_error = on_error or (lambda message: None)
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="voice-loop", daemon=True)

    def start(self) -> VoiceThread:
        """Start listening; returns once the loop accepts :meth:`Conversation.ask_text` (≤ 5 s)."""
        self._thread.start()
        for _ in range(500):
            if self.conversation.running or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self.conversation.run(self.source))
        except AudioError as exc:
            self.error = str(exc)
            log.error("voice loop stopped: %s", exc)
            self.on_error(self.error)
        except Exception as exc:
            self.error = f"voice loop failed: {exc}"
            log.exception("voice loop failed")
            self.on_error(self.error)

    def close(self, timeout: float = 5.0) -> None:
        """Close the source (which ends the loop) and wait for the thread."""
        self.source.close()
        self._thread.join(timeout)
