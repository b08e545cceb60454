"""The voice conversation loop: microphone → VAD → endpointing → ASR → answer → TTS → speaker.

One asyncio loop owns the audio and the turn state; every model call (ASR, the answer engine with
its LLM, TTS) runs in a worker thread so capture and barge-in detection never wait for a model.

**Turns.** Each utterance the endpointer closes becomes a :class:`Turn` with its own id and a
cancellation flag. Every stage checks the flag before it hands anything on: the answer engine
stops generating (``cancelled`` is polled per token), the text callback drops late pieces, the
speaker stage stops synthesising and queues nothing more, and :class:`voice.playback.Playback`
drops what is queued. A cancelled turn produces no further audio.

**Barge-in** (full duplex). While the appliance speaks, the start threshold of the VAD is raised,
and frames that the echo gate (:mod:`voice.echo`) finds to be the appliance's own voice count as
silence. ``barge_in_ms`` of remaining speech cancels the turn and stops playback at the next
audio block; the resident's speech keeps being collected as the next utterance (its first frames
included, through the endpointer's pre-roll). The session history keeps only what was heard.
Half duplex ignores the microphone while a turn is being answered; with push-to-talk it listens
only after :meth:`Conversation.push_to_talk`.

**Turn-taking.** The endpointer ends an utterance after a fixed silence, but residents pause
mid-thought. Speech that starts within ``merge_window_ms`` of an utterance's end, before the
resident can have heard its answer, continues that turn: the answer being prepared (or just
begun) is cancelled and the two utterances are transcribed again as one. A transcript that ends
open (:func:`voice.turn_end.open_ending`: "我想问", "然后", "and", a trailing comma) is not answered
at once: it waits ``hold_open_ms`` from the end of its speech for the rest. Speech too short to
be a turn (a cough) after such a pause gives the turn back, and it is answered. A complete
question is never delayed in a live run.

**File runs.** A source that is not real-time (a WAV file read as fast as possible) is answered
turn by turn: the next frame is read only when the previous answer has been written, so the
answers are the same as a resident would get by speaking and waiting for each answer. Each turn
waits ``merge_window_ms`` of the file's time (frames are read on meanwhile), so a pause in a
recording is judged as it would be live.

**Timings** per turn (:class:`TurnTimings`), all from the end of the resident's speech:
endpoint decision, ASR done, first LLM token, first text, first audio out, LLM finished, and
the total; plus the pipeline's own overhead on the path to the first audio (that path's time
minus the time inside the models). They are printed by ``kiosk run``, written to the journal
with the turn, and summarised by ``kiosk bench voice``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from appliance.answer.types import Answer
from appliance.config import ConversationSettings
from appliance.dialogue import Session
from appliance.events import (
    BargeIn,
    Event,
    Heard,
    Listening,
    ModeDecided,
    SessionEnded,
    Speaking,
    TurnDone,
    TurnResult,
    UserSpeaking,
)
from appliance.heap import release_free_heap
from appliance.knowledge.text import detect_lang
from voice.asr import Transcript
from voice.audio import AudioSource, Frame, resample
from voice.chunker import SentenceChunker
from voice.echo import EchoGate
from voice.endpoint import Endpointer, SpeechDiscarded, SpeechStarted, Utterance
from voice.playback import AudioSink, Clip
from voice.speakable import speakable
from voice.tts import Voices, timed_synthesize
from voice.turn_end import open_ending

log = logging.getLogger(__name__)


class Recognizer(Protocol):
    """What the loop needs from ASR (``voice.asr.WhisperASR``)."""

    name: str

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """float32 mono 16 kHz utterance in, transcript out."""
        ...


class SpeechProbability(Protocol):
    """What the loop needs from the VAD (``voice.vad.SileroVAD``): speech probability per frame."""

    def __call__(self, frame: np.ndarray) -> float:
        """Probability in [0, 1] for one 512-sample frame."""
        ...

    def reset(self) -> None:
        """Forget the recurrent state."""
        ...


class Turn:
    """One utterance being answered: its id, cancellation flag and clock marks.

    ``cancelled`` is a ``threading.Event`` because worker threads (the LLM, TTS) poll it.
    """

    def __init__(self, turn_id: int, utterance: Utterance | None = None, text: str | None = None):
        """A spoken turn (``utterance``) or a typed or tapped one (``text``, no ASR; its clock starts
        when the question is submitted)."""
        if (utterance is None) == (text is None):
            raise ValueError("a turn has either an utterance or a text")
        self.id = turn_id
        self.utterance = utterance
        self.text = text
        self.cancelled = threading.Event()
        # Wall-clock time the speech ended, as a real-time run would see it.
        endpoint_ms = utterance.endpoint_ms if utterance is not None else 0.0
        self.t_speech_end = time.monotonic() - endpoint_ms / 1e3
        self.result = TurnResult(turn_id, utterance_ms=utterance.audio.size / 16.0 if utterance is not None else 0.0)
        self.result.timings.endpoint = endpoint_ms
        self.marks: dict[str, float] = {}
        # Turn-taking (see Conversation): held while its transcript ends open, or (file runs) while
        # the resident could still resume; joined into the next turn when they do.
        self.open_ending: str | None = None
        self.release_at: float | None = None  # source time at which a held turn is answered
        self.holding = asyncio.Event()
        self.released = asyncio.Event()
        self.joining = False  # the resident went on speaking: this turn is part of the next
        self.finished = False  # its answer was played to the end

    @property
    def held(self) -> bool:
        """True while the turn waits, before answering, for speech that may continue it."""
        return self.holding.is_set() and not self.released.is_set()

    def mark(self, name: str) -> None:
        """Remember the first time ``name`` happened."""
        self.marks.setdefault(name, time.monotonic())

    def since_end(self, t: float | None) -> float | None:
        """ms from the end of speech to monotonic time ``t``."""
        return None if t is None else (t - self.t_speech_end) * 1e3


# The loop ---------------------------------------------------------------------------------------


REACTION_S = 0.3
"""Speech starting this soon after the answer's first audio was begun before the resident heard
it (a simple auditory reaction time is about 0.2–0.3 s)."""


class Conversation:
    """The voice loop around one :class:`~appliance.dialogue.Session`.

    Args:
        session: dialogue state and the answer engine.
        asr: speech recogniser.
        voices: TTS per language (a language without a voice is text only).
        sink: speaker or WAV file.
        vad: speech probability per frame.
        endpointer: turns probabilities into utterances.
        settings: duplex, barge-in and echo settings.
        on_event: called on the loop's thread with each :data:`Event`.
    """

    def __init__(
        self,
        session: Session,
        asr: Recognizer,
        voices: Voices,
        sink: AudioSink,
        vad: SpeechProbability,
        endpointer: Endpointer,
        settings: ConversationSettings | None = None,
        on_event: Callable[[Event], None] | None = None,
    ):
        self.session = session
        self.asr = asr
        self.voices = voices
        self.sink = sink
        self.vad = vad
        self.endpointer = endpointer
        self.settings = settings or ConversationSettings()
        self.echo = EchoGate(self.settings.echo_max_delay_ms, self.settings.echo_threshold)
        self.on_event = on_event or (lambda event: None)
        self.results: list[TurnResult] = []
        self.barge_ins: list[dict[str, float]] = []
        self._ids = itertools.count(1)
        self._turn: Turn | None = None
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        # One answer at a time: a cancelled turn's generation stops at its next token, and the LLM
        # (llama.cpp) must not run two generations at once.
        self._engine_lock = threading.Lock()
        self._barge_frames = 0
        self._barge_start: float | None = None
        self._ptt = threading.Event()  # set from any thread (a UI or a hardware button)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._realtime = True
        self.joins = 0  # utterances joined to the one before (a pause mid-thought)

    # -- front-end controls --------------------------------------------------------------------
    def push_to_talk(self) -> None:
        """The talk button was pressed: listen for one utterance (push-to-talk mode; any thread)."""
        self._ptt.set()

    def interrupt(self) -> None:
        """Stop the current answer (a touch on the screen, the stop button): as a barge-in (any thread)."""
        if self.running:
            self._loop.call_soon_threadsafe(self._interrupt)
        else:
            self._interrupt()

    def _interrupt(self) -> None:
        if self._turn is not None:
            self._cancel(self._turn)
        self.sink.stop()

    def ask_text(self, question: str) -> None:
        """Answer a typed or tapped question as a turn of this conversation (any thread).

        The turn skips ASR (its transcript is the text, confidence 1.0) and is otherwise answered
        like a spoken one: events, speech, the session's follow-ups, the journal. A turn still
        being answered or spoken is cancelled first (the newer question wins).

        Raises:
            RuntimeError: the loop is not running (call :meth:`run` first).
        """
        if not self.running:
            raise RuntimeError("the conversation loop is not running")
        self._loop.call_soon_threadsafe(self._text_turn, question)

    def _text_turn(self, question: str) -> None:
        if self._turn is not None and not self._turn.cancelled.is_set() and self.busy:
            self._cancel(self._turn)
        self._start(Turn(next(self._ids), text=question))

    def end_session(self) -> None:
        """The resident is done (the screen went back to attract): forget the topic and history and
        emit :class:`SessionEnded` (any thread)."""
        if self.running:
            self._loop.call_soon_threadsafe(self._end_session)
        else:
            self._end_session()

    def _end_session(self) -> None:
        if (number := self.session.end()) is not None:
            self.on_event(SessionEnded(number))

    def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        """Speak ``text`` (a guided explanation's narration) and return when it has been played, or
        as soon as ``cancelled`` is set (then playback stops). Called from a worker thread, never
        the loop's. Emits :class:`Speaking` per sentence, with a turn id of its own.

        Without a voice for ``lang`` it returns at once (the screen shows the text).
        """
        loop = self._loop
        if loop is None or loop.is_closed() or self.voices.for_lang(lang) is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._say(text, lang, cancelled), loop)
        while not cancelled.wait(0.02):
            if future.done():
                return
        future.cancel()
        loop.call_soon_threadsafe(self.sink.stop)

    async def _say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        clip_id = next(self._ids)
        chunker = SentenceChunker(first_min_chars=self.settings.first_clause_chars)
        try:
            for sentence in [*chunker.feed(text), *chunker.flush()]:
                if not await self._speak_sentence(clip_id, sentence, lang, cancelled):
                    return
            await self.sink.drain()
        finally:
            self.sink.forget(clip_id)

    async def _speak_sentence(
        self, clip_id: int, sentence: str, lang: str, cancelled: threading.Event, turn: Turn | None = None
    ) -> bool:
        """The speaking stage, for a turn's answer and a tour's narration alike: one sentence →
        :class:`Speaking` → speakable text → TTS (in a worker thread) → resampled to the sink's
        rate → queued on the sink as clip ``clip_id``, checking ``cancelled`` before each hand-on.
        Without a voice for ``lang`` only the event is emitted. A ``turn`` gets its TTS time,
        spoken length and first-play mark.

        Returns:
            False once cancelled (nothing more of the clip is to be played), else True.
        """
        if cancelled.is_set():
            return False
        self.on_event(Speaking(clip_id, sentence))
        voice = self.voices.for_lang(lang)
        if voice is None:
            return True
        audio, ms = await asyncio.to_thread(timed_synthesize, voice, speakable(sentence, lang))
        if turn is not None:
            turn.result.timings.tts_model += ms
            turn.result.timings.spoken_ms += audio.size * 1e3 / voice.sample_rate
            turn.marks.setdefault("first_tts_ms", ms)
        if cancelled.is_set():
            return False
        if audio.size:
            audio = resample(audio, voice.sample_rate, self.sink.sample_rate)
            if turn is not None:
                turn.mark("first_play")
            self.sink.play(Clip(clip_id, sentence, audio))
        return True

    @property
    def running(self) -> bool:
        """True while :meth:`run` is running (text turns and narration are accepted)."""
        return self._loop is not None and not self._loop.is_closed()

    @property
    def busy(self) -> bool:
        """True while a turn is being answered or its audio is playing."""
        return (self._task is not None and not self._task.done()) or self.sink.is_playing()

    # -- capture side ---------------------------------------------------------------------------
    async def run(self, source: AudioSource) -> list[TurnResult]:
        """Run until the source ends; return every turn's result.

        Raises:
            voice.audio.AudioError: the source failed (a damaged file, a lost device).
        """
        self._loop = asyncio.get_running_loop()
        self._realtime = source.realtime
        self.on_event(Listening())
        try:
            async for frame in source.frames():
                await self._frame(frame, source.realtime)
            for event in self.endpointer.flush(time.monotonic()):
                await self._endpoint_event(event, source.realtime)
            if self._turn is not None:  # nothing more is coming: a held turn is answered now
                self._turn.released.set()
            if self._tasks:
                await asyncio.gather(*self._tasks)
            await self.sink.drain()
        finally:
            for task in self._tasks:
                task.cancel()
        return self.results

    def _listening(self) -> bool:
        s = self.settings
        held = self._turn is not None and self._turn.held
        if s.duplex == "half" and self.busy and not held:  # a held turn waits for the rest: listen
            return False
        if s.duplex == "half" and s.push_to_talk:
            return self._ptt.is_set() or self.endpointer.in_speech
        return True

    async def _frame(self, frame: Frame, realtime: bool) -> None:
        if not self._listening():
            self.endpointer.reset()
            return
        if self.session.expired() and not self.busy and self.session.last_activity is not None:
            self._end_session()
        prob = self.vad(frame.samples)
        playing = self.sink.realtime and self.sink.is_playing()
        self.endpointer.set_speaking(playing)
        if playing and prob >= self.endpointer.start_threshold:
            reference = self.sink.reference(*self.echo.window(frame.t))
            if self.echo.is_echo(frame.samples, reference):
                prob = 0.0
        self._watch_barge_in(frame, prob, playing)
        for event in self.endpointer.process(frame, prob):
            await self._endpoint_event(event, realtime)
        turn = self._turn
        if turn is not None and turn.held and frame.t >= turn.release_at and not self.endpointer.in_speech:
            turn.holding.clear()
            turn.released.set()
            if not realtime:
                await self._until_held_or_done()

    def _watch_barge_in(self, frame: Frame, prob: float, playing: bool) -> None:
        turn = self._turn
        if turn is None or turn.cancelled.is_set() or self.settings.duplex == "half" or not self.busy:
            self._barge_frames = 0
            return
        threshold = self.endpointer.start_threshold  # set_speaking(playing) was just called
        if prob < threshold:
            self._barge_frames, self._barge_start = 0, None
            return
        if self._barge_frames == 0:
            self._barge_start = frame.t
        self._barge_frames += 1
        if self._barge_frames * 32.0 >= self.settings.barge_in_ms:
            detect_ms = (frame.t + 0.032 - (self._barge_start or frame.t)) * 1e3
            t_detect = time.monotonic()
            self._cancel(turn)
            self.barge_ins.append(
                {"turn_id": turn.id, "detect_ms": detect_ms, "t_detect": t_detect, "during_playback": playing}
            )
            self.on_event(BargeIn(turn.id, detect_ms))
            self._barge_frames = 0

    def _cancel(self, turn: Turn) -> None:
        turn.cancelled.set()
        turn.released.set()
        turn.result.interrupted = True
        self.sink.stop()

    def _joinable(self, turn: Turn, t: float) -> bool:
        """Whether speech starting at source time ``t`` continues ``turn`` rather than starting a
        new one: within ``hold_open_ms`` of its speech's end when its transcript ended open, else
        within ``merge_window_ms``; and only before the resident can have heard its answer (its
        first audio went out less than :data:`REACTION_S` ago, or not yet): speech over an answer
        already heard is a barge-in, a new turn."""
        u = turn.utterance
        if u is None or turn.joining or turn.finished:
            return False
        first_audio = self.sink.first_audio(turn.id) if self.sink.realtime else None
        if first_audio is not None and time.monotonic() - first_audio > REACTION_S:
            return False
        window = self.settings.hold_open_ms if turn.open_ending else self.settings.merge_window_ms
        return window > 0 and t - u.t_speech_end <= window / 1e3

    async def _until_held_or_done(self) -> None:
        """File runs: wait until the current turn is answered, or held for more speech (frames are
        read on meanwhile)."""
        task, turn = self._task, self._turn
        if task is None or turn is None:
            return
        held = asyncio.ensure_future(turn.holding.wait())
        try:
            await asyncio.wait({task, held}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            held.cancel()

    async def _endpoint_event(self, event, realtime: bool) -> None:
        prev = self._turn
        if isinstance(event, SpeechStarted):
            self.on_event(UserSpeaking(event.t))
            if prev is not None and self._joinable(prev, event.t):
                # The resident goes on after a pause: this speech belongs to the turn before, whose
                # answer (being held, prepared or already spoken) is cancelled.
                prev.joining = True
                self._cancel(prev)
        elif isinstance(event, SpeechDiscarded):
            log.debug("speech of %.0f ms discarded (shorter than min_speech_ms)", event.speech_ms)
            if prev is not None and prev.joining and prev.utterance is not None:
                # It was a cough, not more words: answer the turn before after all.
                self._start(Turn(next(self._ids), prev.utterance))
                if not realtime:
                    await self._until_held_or_done()
        elif isinstance(event, Utterance):
            self._ptt.clear()
            utterance = event
            if prev is not None and prev.joining and prev.utterance is not None:
                utterance = prev.utterance.then(event)
                self.joins += 1
            elif prev is not None and not prev.cancelled.is_set() and self._task and not self._task.done():
                # A new utterance while the previous answer is still being prepared: the newer wins.
                self._cancel(prev)
            self._start(Turn(next(self._ids), utterance))
            if not realtime:
                await self._until_held_or_done()  # file runs: one turn at a time

    def _start(self, turn: Turn) -> None:
        self._turn = turn
        self._task = asyncio.create_task(self._answer(turn))
        self._tasks.add(self._task)
        self._task.add_done_callback(self._tasks.discard)

    # -- answer side ----------------------------------------------------------------------------
    async def _answer(self, turn: Turn) -> None:
        try:
            await self._answer_turn(turn)
        except Exception:
            log.exception("turn %d failed", turn.id)
        finally:
            if not turn.joining:  # a turn joined into the next is reported as part of it
                self.results.append(turn.result)
                self.on_event(TurnDone(turn.result))
            if self._turn is turn:
                self.on_event(Listening())
            await asyncio.to_thread(release_free_heap)  # the turn's native buffers, back to the system

    async def _answer_turn(self, turn: Turn) -> None:
        result, timings = turn.result, turn.result.timings
        if turn.text is not None:
            transcript = Transcript(turn.text, detect_lang(turn.text), 1.0)
        else:
            transcript = await asyncio.to_thread(self.asr.transcribe, turn.utterance.audio)
            turn.mark("asr_end")
            timings.asr = turn.since_end(turn.marks["asr_end"])
            timings.asr_model = transcript.duration_ms
        result.transcript = transcript
        self.on_event(Heard(turn.id, transcript))
        if transcript.dropped or turn.cancelled.is_set():
            if transcript.dropped:
                log.info("turn %d dropped: %s", turn.id, transcript.dropped)
            return
        if not await self._hold(turn, transcript):
            return

        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        def on_text(text: str) -> None:  # worker thread
            if not turn.cancelled.is_set():
                turn.mark("first_text")
                loop.call_soon_threadsafe(pieces.put_nowait, text)

        def on_mode(mode: str) -> None:  # worker thread
            loop.call_soon_threadsafe(self.on_event, ModeDecided(turn.id, mode))

        def ask() -> tuple[Answer, str | None]:
            try:
                with self._engine_lock:
                    return self.session.ask(
                        transcript.text,
                        on_text=on_text,
                        on_mode=on_mode,
                        cancelled=turn.cancelled.is_set,
                        record=False,
                        speech=True,
                    )
            finally:
                loop.call_soon_threadsafe(pieces.put_nowait, None)

        turn.mark("engine_start")
        speaker = asyncio.create_task(self._speak(turn, pieces, transcript.language))
        answer, query = await asyncio.to_thread(ask)
        await speaker
        turn.mark("queued")
        await self.sink.drain()
        if turn.joining:  # the resident went on speaking: the next turn answers the whole
            self.sink.forget(turn.id)
            return
        turn.finished = not turn.cancelled.is_set()
        result.answer, result.query = answer, query
        result.heard = self.sink.heard(turn.id) if self.voices.for_lang(answer.lang) else answer.answer
        if turn.cancelled.is_set():
            result.interrupted = True
        self._finish_timings(turn, answer)
        self.sink.forget(turn.id)
        self.session.add(answer, result.heard)
        answer.timings_ms.update({f"voice_{k}": v for k, v in timings.as_dict().items()})
        self.session.engine.record(answer)

    async def _hold(self, turn: Turn, transcript: Transcript) -> bool:
        """Wait, before answering, for speech that may continue the turn; False if it did (the
        turn was cancelled and joins the next). A transcript that ends open (:func:`open_ending`)
        waits ``hold_open_ms`` from the end of its speech; in a file run every turn waits
        ``merge_window_ms`` of the file's time, as long as a resident could resume (a live run
        answers at once and cancels the answer if they do)."""
        s, u = self.settings, turn.utterance
        if u is None or u.reason == "end_of_stream" or (s.duplex == "half" and s.push_to_talk):
            return True  # nothing more can come (push-to-talk: the resident presses again to go on)
        turn.open_ending = open_ending(transcript.text) if s.hold_open_ms > 0 else None
        wait_ms = s.hold_open_ms if turn.open_ending else (0.0 if self._realtime else s.merge_window_ms)
        if wait_ms <= 0:
            return True
        if turn.open_ending:
            log.info("turn %d ends open (%r): waiting %.0f ms for the rest", turn.id, turn.open_ending, wait_ms)
            turn.result.held_ms = max(0.0, wait_ms - (turn.result.timings.asr or 0.0))
        turn.release_at = u.t_speech_end + wait_ms / 1e3
        turn.holding.set()
        await turn.released.wait()
        return not turn.cancelled.is_set()

    async def _speak(self, turn: Turn, pieces: asyncio.Queue[str | None], lang: str) -> None:
        """Cut the text stream into sentences, synthesise each in a worker thread, queue the audio."""
        chunker = SentenceChunker(first_min_chars=self.settings.first_clause_chars)
        lang = "en" if lang == "en" else "zh"
        while True:
            text = await pieces.get()
            sentences = list(chunker.feed(text)) if text is not None else list(chunker.flush())
            for sentence in sentences:
                if not await self._speak_sentence(turn.id, sentence, lang, turn.cancelled, turn):
                    return
            if text is None:
                return

    def _finish_timings(self, turn: Turn, answer: Answer) -> None:
        t, m = turn.result.timings, turn.marks
        at = answer.timings_ms
        t.retrieval = at.get("retrieval", 0.0)
        t.llm_model = at.get("llm", 0.0)
        engine_start = m.get("engine_start")
        if "llm_first_token" in at and engine_start is not None:
            # The engine's LLM timings are relative to its own call; place them on the turn's clock.
            llm_start = engine_start + (at.get("total", 0.0) - at.get("llm", 0.0) - at.get("compose", 0.0)) / 1e3
            t.first_token = turn.since_end(llm_start + at["llm_first_token"] / 1e3)
            t.llm_done = turn.since_end(llm_start + at["llm"] / 1e3)
        t.first_text = turn.since_end(m.get("first_text"))
        first_audio = self.sink.first_audio(turn.id) if self.sink.realtime else m.get("first_play")
        t.first_audio = turn.since_end(first_audio)
        t.total = turn.since_end(m.get("queued"))
        if t.first_audio is not None and t.first_text is not None and t.asr is not None:
            # Model time on the path to the first audio: ASR, retrieval, the LLM up to the first
            # released text, and the synthesis of the first piece.
            engine_to_text = (m["first_text"] - m["engine_start"]) * 1e3 if "first_text" in m else 0.0
            llm_part = max(0.0, engine_to_text - t.retrieval) if t.llm_model else 0.0
            models = t.asr_model + t.retrieval + llm_part + m.get("first_tts_ms", 0.0)
            t.overhead = max(0.0, t.first_audio - t.endpoint - models)
