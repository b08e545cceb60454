"""The voice benchmark: the real pipeline on real recordings, per-stage timings and barge-in latency.

Used by ``kiosk bench voice``. Every figure comes from the loop's own :class:`TurnTimings` (the
same ones ``kiosk run`` prints and the journal stores), so the bench measures the product, not a
copy of it:

* **per turn**: endpoint, ASR, first LLM token, first audio, LLM finished, total, all from the end
  of speech, and the pipeline overhead on the path to the first audio;
* **VAD cost** per 32 ms frame;
* **barge-in**: a recording played as the resident's question, then, once the answer has been
  playing for a second on a real-time simulated speaker, a second recording talking over it.
  Measured: speech onset to the barge-in decision, and the decision to the first silent output
  block (the stop takes effect at the next block the audio device asks for).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.bootstrap import Appliance, VoiceModels, build_conversation
from appliance.events import TurnResult
from voice.audio import FRAME_SAMPLES, SAMPLE_RATE, ArraySource, Frame, Framer, WavFileSource, read_audio, resample
from voice.playback import SimulatedSpeaker, WavFileSink


def run_file(appliance: Appliance, models: VoiceModels, path: Path) -> list[TurnResult]:
    """Every turn of one recording, answered as ``kiosk run --no-ui --audio-in`` answers it."""
    sink = WavFileSink(None, models.voices.sample_rate)
    loop = build_conversation(appliance, models, sink)
    return asyncio.run(loop.run(WavFileSource(path)))


def run_audio(appliance: Appliance, models: VoiceModels, audio: np.ndarray) -> list[TurnResult]:
    """Every turn of ``audio`` (float32 mono 16 kHz), answered as a file run answers it."""
    sink = WavFileSink(None, models.voices.sample_rate)
    loop = build_conversation(appliance, models, sink)
    return asyncio.run(loop.run(ArraySource(audio)))


def spoken_questions(models: VoiceModels, per_lang: int) -> list[tuple[str, str, np.ndarray]]:
    """Held-out demo questions spoken by the installed voices, as (label, question, audio): the
    voice's audio at 16 kHz, 0.5 s of silence before and 2 s after. They are
    questions the guides answer, which the shared recordings are not, so their turns time the
    answer path (retrieval, extractive or LLM answer) end to end; a language without a voice
    gives none."""
    clips = []
    for lang, questions in _held_out_questions().items():
        voice = models.voices.by_lang.get(lang)
        if voice is None:
            continue
        for i, question in enumerate(_spread(questions, per_lang)):
            audio = synthesized_16k(voice, question, before_s=0.5, after_s=2.0)
            clips.append((f"{lang} question {i + 1}", question, audio))
    return clips


def synthesized_16k(voice, text: str, before_s: float, after_s: float) -> np.ndarray:
    """``text`` spoken by ``voice`` as pipeline audio: float32 mono 16 kHz
    (:func:`voice.audio.resample`), with ``before_s`` / ``after_s`` seconds of silence around it."""
    audio = resample(np.asarray(voice.synthesize(text), np.float32), voice.sample_rate)
    silence = (np.zeros(int(SAMPLE_RATE * t), np.float32) for t in (before_s, after_s))
    return np.concatenate([next(silence), audio, next(silence)])


def vad_cost_ms(vad, audio: np.ndarray) -> float:
    """Mean milliseconds the VAD takes per 512-sample frame of ``audio``."""
    frames = list(Framer().push(audio))
    vad.reset()
    t = time.perf_counter()
    for f in frames:
        vad(f)
    return (time.perf_counter() - t) * 1e3 / max(1, len(frames))


@dataclass
class BargeInFigures:
    """One barge-in trial.

    Attributes:
        detect_ms: from the first frame of the interrupting speech to the barge-in decision.
        stop_ms: from the decision to the first silent output block (playback stopped).
        heard_chars / answer_chars: how much of the answer was heard before the interruption.
    """

    detect_ms: float
    stop_ms: float
    heard_chars: int
    answer_chars: int


class InterruptingSource:
    """A real-time microphone for one barge-in trial: the question, silence until the answer has
    been playing for ``after_s``, then the interruption, then ``tail_s`` of silence.

    Args:
        sink: the speaker whose playback is watched.
        on_end: called once the last frame has been taken (the trial is over): the bench stops the
            answer to the interruption there, as the screen's stop button would, rather than
            playing it out in real time.
    """

    realtime = True

    def __init__(
        self,
        question: np.ndarray,
        interruption: np.ndarray,
        sink,
        after_s: float,
        tail_s: float = 2.0,
        on_end: Callable[[], None] | None = None,
    ):
        self.question, self.interruption, self.sink = question, interruption, sink
        self.after_s, self.tail_s = after_s, tail_s
        self.on_end = on_end
        self._closed = False
        self.interrupted_at: float | None = None

    def close(self) -> None:
        self._closed = True

    async def frames(self):
        frame_s = FRAME_SAMPLES / SAMPLE_RATE
        start = time.monotonic()
        index = 0

        async def emit(samples: np.ndarray):
            nonlocal index
            t = start + index * frame_s
            delay = t + frame_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            index += 1
            return Frame(samples, t, index - 1)

        for samples in Framer().push(self.question):
            yield await emit(samples)
        silent = np.zeros(FRAME_SAMPLES, np.float32)
        deadline = time.monotonic() + 60.0  # give up if no answer is ever played
        playing_since: float | None = None
        while not self._closed and time.monotonic() < deadline:
            if playing_since is None and self.sink.is_playing():
                playing_since = time.monotonic()
            if playing_since is not None and time.monotonic() - playing_since >= self.after_s:
                break
            yield await emit(silent)
        self.interrupted_at = time.monotonic()
        for samples in [*Framer().push(self.interruption), *[silent] * int(self.tail_s / frame_s)]:
            if self._closed:
                return
            yield await emit(samples)
        if self.on_end is not None:
            self.on_end()


def barge_in_trial(
    appliance: Appliance, models: VoiceModels, question: np.ndarray, interruption: np.ndarray, after_s: float = 1.0
) -> BargeInFigures | None:
    """Ask with ``question``; ``after_s`` seconds after the answer starts playing, say ``interruption``.

    Runs in real time on a simulated speaker (no sound card). None when there was no barge-in
    during playback (the answer was over, or never played).
    """
    sink = SimulatedSpeaker(models.voices.sample_rate, appliance.settings.audio.output_block, keep_output=False)
    loop = build_conversation(appliance, models, sink)
    try:
        results = asyncio.run(
            loop.run(InterruptingSource(question, interruption, sink, after_s, on_end=loop.interrupt))
        )
    finally:
        sink.close()
    during = [b for b in loop.barge_ins if b["during_playback"]]
    if not during:
        return None
    b = during[0]
    silences = [t for t in sink.silences if t >= b["t_detect"]]
    cut = next((r for r in results if r.turn_id == b["turn_id"]), None)
    if not silences or cut is None:
        return None
    answer = cut.answer.answer if cut.answer else ""
    return BargeInFigures(b["detect_ms"], (silences[0] - b["t_detect"]) * 1e3, len(cut.heard), len(answer))


def with_pause(audio: np.ndarray, pause_s: float, frame_ms: float = 20.0) -> np.ndarray:
    """``audio`` with ``pause_s`` of silence inserted mid-thought: at the quietest speech frame
    (20 ms, above a tenth of the loudest frame's RMS) of the middle 30–70 % of its speech: a dip
    between two words, not a pause already there (which the insertion would only lengthen).

    Args:
        audio: float32 mono 16 kHz, shape (n,).

    Returns:
        float32, shape (n + pause_s · 16000,).
    """
    n = int(SAMPLE_RATE * frame_ms / 1000)
    frames = audio[: audio.size // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > 0.1 * rms.max()) if rms.size else np.array([], int)
    if loud.size < 2:
        cut = audio.size // 2
    else:
        lo, hi = loud[0], loud[-1]
        middle = loud[(loud >= lo + 0.3 * (hi - lo)) & (loud <= lo + 0.7 * (hi - lo))]
        middle = middle if middle.size else loud
        cut = int(middle[np.argmin(rms[middle])]) * n + n // 2
    gap = np.zeros(int(round(pause_s * SAMPLE_RATE)), np.float32)
    return np.concatenate([audio[:cut], gap, audio[cut:]]).astype(np.float32)


@dataclass
class TurnTakingFigures:
    """Turn-taking on recordings of one complete utterance each, as recorded and with pauses.

    Attributes:
        clips: recordings used.
        split_as_recorded: recordings answered as more than one turn.
        split_with_pause: per inserted pause (s), the recordings answered as more than one turn.
        held_ms: per answered turn of the recordings as recorded, how much later a live run answers
            it because its transcript ended open, ms.
        transcripts: per (recording, pause or None), the transcripts of its turns.
    """

    clips: int
    split_as_recorded: int
    split_with_pause: dict[float, int]
    held_ms: list[float]
    transcripts: dict[tuple[str, float | None], list[str]]


def turn_taking(appliance: Appliance, models: VoiceModels, files: list[Path], pauses: list[float]) -> TurnTakingFigures:
    """Each recording as one file run, as recorded and with each pause inserted (:func:`with_pause`),
    through the real VAD, endpointer, ASR and answer engine; counts the turns it became."""
    tail = np.zeros(4 * SAMPLE_RATE, np.float32)  # as long as a held turn can wait: it ends by itself
    split = dict.fromkeys(pauses, 0)
    as_recorded, held, transcripts = 0, [], {}
    for path in files:
        audio = speech_of(path)
        for pause in [None, *pauses]:
            clip = audio if pause is None else with_pause(audio, pause)
            loop = build_conversation(appliance, models, WavFileSink(None, models.voices.sample_rate))
            turns = [r for r in asyncio.run(loop.run(ArraySource(np.concatenate([clip, tail])))) if r.answer]
            transcripts[(path.name, pause)] = [r.transcript.text for r in turns if r.transcript]
            if pause is None:
                as_recorded += len(turns) > 1
                held += [r.held_ms for r in turns]
            elif len(turns) > 1:
                split[pause] += 1
    return TurnTakingFigures(len(files), as_recorded, split, held, transcripts)


def recordings(folder: Path) -> list[Path]:
    """The WAV files of a speech folder, sorted."""
    return sorted(folder.glob("*.wav"))


def speech_of(path: Path) -> np.ndarray:
    """A recording as pipeline audio."""
    return read_audio(path, max_seconds=120)


def summarise(values: list[float], fmt: Callable[[float], str] = lambda v: f"{v:.0f}") -> str:
    """'median / p95 / max' of a list ('-' when empty)."""
    if not values:
        return "-"
    v = np.asarray(values)
    return f"{fmt(float(np.median(v)))} / {fmt(float(np.percentile(v, 95)))} / {fmt(float(v.max()))}"


# --- recognition and round-trip error rates ----------------------------------------------------------

_COMMENT = re.compile(r"\s*[（(][^（）()]*[）)]\s*")
_ZH_DIGIT = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


@dataclass
class Reference:
    """What a recording says, from the speech folder's ``MANIFEST.tsv``.

    Attributes:
        text: the transcript, its parenthesised comments removed.
        lang: 'zh', 'en', ... as the manifest gives it.
        partial: the transcript is only the opening of what is said (the manifest's comment says
            so): it is scored against the same length of what was heard.
    """

    text: str
    lang: str
    partial: bool = False


def manifest_references(folder: Path) -> dict[str, Reference]:
    """File name → :class:`Reference` from ``folder/MANIFEST.tsv`` (tab-separated, with a header
    holding ``file``, ``language`` and ``transcript``); recordings whose transcript is unknown
    ("(unknown: …)") are left out. Empty when there is no manifest; a malformed row is skipped."""
    path = folder / "MANIFEST.tsv"
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines:
        return {}
    header = lines[0].split("\t")
    try:
        f_i, l_i, t_i = header.index("file"), header.index("language"), header.index("transcript")
    except ValueError:
        return {}
    refs: dict[str, Reference] = {}
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) <= max(f_i, l_i, t_i):
            continue
        raw = cols[t_i].strip()
        text = _COMMENT.sub(" ", raw).strip()
        if not text or raw.startswith(("(unknown", "（unknown")):
            continue
        comments = " ".join(re.findall(r"[（(]([^（）()]*)[）)]", raw)).lower()
        refs[cols[f_i].strip()] = Reference(text, cols[l_i].strip(), partial="opening" in comments)
    return refs


def normalise(text: str, lang: str) -> str:
    """``text`` as error rates compare it: the same reading written the same way.

    Chinese: Simplified characters (OpenCC), digit strings of five or more (phone numbers) as
    their digits read one by one, other numbers as read (cn2an: 20 → 二十, 8点30 → 八点三十),
    幺 as 一, letters lower-cased, everything else (punctuation, spaces) dropped. English:
    lower-case words, digits split one per word and from letters (so "010" and "0 1 0", "9am"
    and "9 a.m." agree), punctuation dropped (p.m. → pm), -re spellings as Whisper's -er.
    """
    if lang == "en":
        text = re.sub(r"\b([a-z])\.([a-z])\.", r"\1\2", text.lower())  # p.m. → pm, e.g. → eg
        text = re.sub(r"(?<=\d)(?=\d)|(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", " ", text)  # 9am → 9 am
        text = re.sub(r"\b(cent|met|lit)re(s?)\b", r"\1er\2", text)  # one spelling: Whisper writes US English
        return " ".join(re.sub(r"[^\w\s']|_", " ", text).replace("'", "").split())
    import cn2an
    from opencc import OpenCC

    text = OpenCC("t2s").convert(text)
    text = re.sub(r"\d{5,}", lambda m: "".join(_ZH_DIGIT[d] for d in m.group()), text)
    try:
        text = cn2an.transform(text, "an2cn")
    except (ValueError, KeyError, IndexError):  # cn2an refuses some shapes; digits one by one then
        pass
    text = "".join(_ZH_DIGIT.get(ch, ch) for ch in text).replace("幺", "一")
    return "".join(ch for ch in text.lower() if ch.isalnum())


def error_rate(reference: str, heard: str, lang: str, *, partial: bool = False) -> float:
    """Character error rate (Chinese) or word error rate (English) of ``heard`` against
    ``reference``, after :func:`normalise`: (substitutions + deletions + insertions) / reference
    length, by jiwer. With ``partial``, ``reference`` is only the opening of what was said, and it
    is scored against the prefix of ``heard`` (of any length) that fits it best.

    Returns:
        ≥ 0.0 (above 1.0 when far more was heard than said); 0.0 for an empty reference.
    """
    import jiwer

    ref, hyp = normalise(reference, lang), normalise(heard, lang)
    if lang == "en":
        ref_units, hyp_units = ref.split(), hyp.split()
        if not ref_units:
            return 0.0
        if partial:
            hyp_units = min((hyp_units[:n] for n in range(len(hyp_units) + 1)), key=lambda h: _wer(ref, h))
        return _wer(ref, hyp_units)
    if not ref:
        return 0.0
    if partial:
        hyp = min((hyp[:n] for n in range(len(hyp) + 1)), key=lambda h: jiwer.cer(ref, h or " "))
    return float(jiwer.cer(ref, hyp or " ")) if hyp else 1.0


def _wer(ref: str, hyp_units: list[str]) -> float:
    import jiwer

    return float(jiwer.wer(ref, " ".join(hyp_units))) if hyp_units else 1.0


@dataclass
class RoundTrip:
    """One text spoken by the voice and heard back by the speech recogniser.

    Attributes:
        text: the answer as shown; said: as synthesised (:func:`voice.speakable.speakable`);
        heard: Whisper's transcript of the synthesised audio; error: :func:`error_rate` of
        ``heard`` against ``said``; voice: the synthesiser's name.
    """

    text: str
    said: str
    heard: str
    error: float
    voice: str
    lang: str


def round_trip(text: str, lang: str, voices, asr) -> RoundTrip | None:
    """Synthesise ``text`` as the loop would (speakable text, the language's voice), resample the
    audio to 16 kHz and transcribe it with ``asr`` forced to ``lang`` and without the
    vocabulary prompt (which would hide what the voice got wrong). None when ``lang`` has no voice
    or nothing is left to say."""
    from voice.speakable import speakable

    voice = voices.for_lang(lang)
    said = speakable(text, lang)
    if voice is None or not said:
        return None
    heard = asr.transcribe(synthesized_16k(voice, said, 0.25, 0.25), language=lang, prompt="").text
    return RoundTrip(text, said, heard, error_rate(said, heard, lang), voice.name, lang)


def held_out_answers(appliance: Appliance, per_lang: int) -> list[tuple[str, str]]:
    """(spoken answer, language) for ``per_lang`` of the demo's held-out answerable questions in
    each language, spread over the set: the text the voice loop would speak for each."""
    picked: list[tuple[str, str]] = []
    for questions in _held_out_questions().values():
        for question in _spread(questions, per_lang):
            pieces: list[str] = []
            answer = appliance.engine.ask(question, on_text=pieces.append, speech=True)
            if pieces:
                picked.append(("".join(pieces), answer.lang))
    return picked


def _held_out_questions() -> dict[str, list[str]]:
    """The demo's held-out answerable questions by language (``eval/test/answerable.jsonl``)."""
    import json

    from appliance.bootstrap import demo_kb_dir

    path = demo_kb_dir().parent / "eval" / "test" / "answerable.jsonl"
    by_lang: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            by_lang.setdefault(rec.get("lang", "zh"), []).append(rec["question"])
    return dict(sorted(by_lang.items()))


def _spread(items: list[str], n: int) -> list[str]:
    """``n`` of ``items``, evenly spread over them."""
    return items[:: max(1, len(items) // max(1, n))][:n]


def resident_memory_mb() -> tuple[float, float]:
    """(resident set size now, peak resident set size) of this process, MiB: ``VmRSS`` from
    ``/proc/self/status`` (Linux) and ``ru_maxrss`` (KiB on Linux) from ``getrusage``."""
    import resource

    now = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = float(line.split()[1]) / 1024
    except OSError:
        pass
    return now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
