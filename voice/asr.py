"""Speech recognition: faster-whisper (CTranslate2) from a local model folder, with guards.

* **Model**: a CTranslate2 Whisper folder installed by ``kiosk models`` (catalogue
  ``faster-whisper-small``), int8 on CPU, float16 on CUDA (``compute_type="auto"``).
* **Vocabulary prompt**: Whisper's ``initial_prompt`` conditions the decoder on text that "came
  before"; a prompt listing the knowledge base's service names (共有产权保障住房, 居住证 …) makes
  the decoder prefer those spellings over homophones (Radford et al. 2022, §3.8 and the prompting
  guide in openai/whisper discussions #963). It is capped at ``PROMPT_MAX_CHARS``: Whisper keeps
  at most 223 prompt tokens (half its 448-token text context).
* **Simplified Chinese**: Whisper often writes Traditional characters for Mandarin; the text is
  converted with OpenCC ``t2s``.
* **Hallucination guard**: on silence, noise or music, Whisper invents fluent text, most often the
  subtitle credits of its training data (字幕由Amara.org社区提供, 请不吝点赞 订阅 转发 打赏…,
  "Thank you for watching"). A segment is dropped when Whisper itself thinks it is not speech
  (``no_speech_prob`` above 0.6 with ``avg_logprob`` below −1, Whisper's own rule in
  ``transcribe.py``), when its compression ratio is above 2.4 (repetition loops, same source),
  or when it matches a known hallucination phrase. A turn left with no text is dropped, not
  answered.
* **Prompt echo and short loops**: with the vocabulary prompt, real Whisper base answers silence,
  hum, noise, a cough or a door slam (``tests/sounds.py``) by copying the prompt
  ("社区服务咨询：社会保障卡挂失与补办、…", items reordered: "证明开具、房屋漏水与邻里…") or by
  looping ("剧剧剧…", "作试,作试,…", "房屋漏水与邻里纸文化,房屋漏水与邻里纸文化,…"), with a
  confident ``avg_logprob`` (−0.2 to −0.9) that Whisper's own rule lets through and, when the
  decode stops at its token bound, a compression ratio too low (1.7) to show the loop. Measured:
  ``no_speech_prob`` 0.5–0.98 on those sounds, 0.04–0.23 on real speech except one clip at 0.73.
  So a segment mostly copied from the prompt (``echo_share`` of its characters in runs found in
  the prompt's items) is dropped when it strings two or more of the items together, when
  ``no_speech_prob`` is above ``echo_no_speech``, or when its script is not the decoded
  language's (Chinese text under an English decode); a resident who says one service's name is
  kept. A segment that is mostly one phrase said again and again (:func:`repetition`) is
  dropped. The Chinese prompt is given to Chinese decodes only: it pulls an English turn towards
  Chinese, and without it Whisper base writes nothing for all six sounds (with the site's two
  languages, language identification calls each of them English).
* **The site's languages**: with ``languages`` (the site's, e.g. ``("zh", "en")``) and language
  ``"site"``, each turn's language is Whisper's own language identification restricted to those
  (the most probable of them, from ``detect_language``'s probabilities over all 99), never forced
  to one and never a third (Cantonese heard as Japanese).
* **Bounded decoding**: a wrong-language or noisy decode can loop through every temperature
  fallback for tens of seconds. Decoding stops at ``TOKENS_PER_S`` tokens per second of audio
  (plus ``TOKENS_MIN``), and falls back at most once (temperatures 0 and 0.4).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOKENS_PER_S = 12.0
"""Most tokens decoded per second of audio: fast Mandarin is about 6 characters a second and
Whisper's tokenizer spends 1–2 tokens on a character; English about 3 words (4 tokens) a second."""
TOKENS_MIN = 16
WINDOW_S = 30.0
"""Whisper decodes 30-second windows; the token bound applies to each."""
TOKENS_MAX = 216
"""Most tokens decoded per window: Whisper's text context is 448 tokens, half of it for the prompt
(faster-whisper keeps at most its last 223 tokens) and a few for the start-of-transcript tokens;
faster-whisper refuses a decode whose prompt and bound exceed 448."""
TEMPERATURES = (0.0, 0.4)
"""Greedy first, one sampled fallback (Whisper's own schedule is 0, 0.2, …, 1.0: six decodes)."""

PROMPT_MAX_CHARS = 180
"""Characters of vocabulary prompt (≈ 200 Whisper tokens of Chinese; Whisper keeps 223)."""

HALLUCINATIONS = (
    "字幕",
    "点赞",
    "订阅",
    "打赏",
    "转发",
    "明镜",
    "amara",
    "谢谢观看",
    "感谢观看",
    "谢谢收看",
    "下集再见",
    "thank you for watching",
    "thanks for watching",
    "subtitles by",
    "subscribe",
    "www.",
    ".com",
)
"""Substrings (lower-case, Simplified) marking Whisper's training-data credits rather than speech."""


@dataclass(frozen=True)
class Guard:
    """Hallucination thresholds (the defaults are Whisper's own, from openai/whisper ``transcribe.py``).

    Attributes:
        no_speech_threshold: a segment with no_speech_prob above this ...
        log_prob_threshold: ... and avg_logprob below this is silence, not speech.
        compression_ratio_threshold: gzip compression ratio above which text is a repetition loop.
        phrases: known hallucination substrings (matched on lower-case Simplified text).
        echo_share: a segment of which this share is copied from the vocabulary prompt (see
            :func:`prompt_share`) is a copy of the prompt ...
        echo_no_speech: ... and is dropped when it strings together two or more of the prompt's
            items, when its no_speech_prob is above this, or when its script is not the decoded
            language's (see the module docstring for the measurements).
        loop_share: a segment this much of which is one phrase said again and again (see
            :func:`repetition`: three times, or twice for four or more Chinese characters; a
            Latin unit needs four letters, so "no, no, no" is speech) is a
            decoding loop, even where it is too short for the compression ratio to show it.
    """

    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    phrases: tuple[str, ...] = HALLUCINATIONS
    echo_share: float = 0.6
    echo_no_speech: float = 0.5
    loop_share: float = 0.6

    def reject(
        self,
        text: str,
        no_speech_prob: float,
        avg_logprob: float,
        compression_ratio: float,
        *,
        prompt: str = "",
        language: str | None = None,
    ) -> str | None:
        """Why a segment is not speech, or None when it is kept.

        Args:
            prompt: the vocabulary prompt the decode was given ("" for none).
            language: the decoded language ('zh', 'en', ...), None when unknown.
        """
        if no_speech_prob > self.no_speech_threshold and avg_logprob < self.log_prob_threshold:
            return f"no speech (p={no_speech_prob:.2f}, logprob={avg_logprob:.2f})"
        if compression_ratio > self.compression_ratio_threshold:
            return f"repetitive (compression ratio {compression_ratio:.1f})"
        unit, copies, share = repetition(text)
        han = bool(_HAN.search(unit))
        if share >= self.loop_share and len(unit) >= (2 if han else 4) and (copies >= 3 or (han and len(unit) >= 4)):
            return f"repetitive ({unit!r} {copies} times)"
        share, items = prompt_share(text, prompt)
        if share >= self.echo_share:
            han = bool(_HAN.search(text))
            foreign = (language == "en" and han) or (language == "zh" and not han)
            if items >= 2 or no_speech_prob > self.echo_no_speech or foreign:
                return (
                    f"echo of the vocabulary prompt ({share:.0%} copied from {items} of its items, "
                    f"no_speech_prob={no_speech_prob:.2f})"
                )
        low = text.lower()
        for phrase in self.phrases:
            if phrase in low:
                return f"known hallucination ({phrase!r})"
        if not re.search(r"\w", text):
            return "no words"
        return None


_HAN = re.compile(r"[\u4e00-\u9fff]")
_NOT_WORD = re.compile(r"[\W_]+")


_LOOP = re.compile(r"([^\W\d_]{2,16}?)\1+")  # letters and characters, not digits: 0000 is a number


def repetition(text: str) -> tuple[str, int, float]:
    """The phrase of ``text`` most repeated back to back, as ``(unit, copies, share)``.

    Punctuation and spaces are ignored; ``share`` is the part of the text (0.0–1.0) the run of
    copies covers, a cut-off copy at its end included ("房屋漏水,房屋漏水,房屋漏" is 2 copies and
    a part, share 1.0): a decode stopped by its token bound in the middle of a loop ends so.
    Units are 2–16 letters or characters (digits are not: 0000 is a number), the shortest that
    repeats; ``("", 0, 0.0)`` when none.
    """
    a = _NOT_WORD.sub("", text.lower())
    best = ("", 0, 0.0)
    for m in _LOOP.finditer(a):
        unit = m.group(1)
        end, k = m.end(), 0
        while end + k < len(a) and k < len(unit) and a[end + k] == unit[k]:
            k += 1
        share = (m.end() - m.start() + k) / len(a)
        if share > best[2]:
            best = (unit, len(m.group()) // len(unit), share)
    return best


def prompt_share(text: str, prompt: str, *, min_run: int = 3) -> tuple[float, int]:
    """How much of ``text`` is copied from ``prompt``, and from how many of its items.

    A character of ``text`` (letters and digits; punctuation and spaces dropped) counts as copied
    when it lies in a run of at least ``min_run`` characters found within one of the prompt's
    items, in any order: Whisper's echo reorders them ("证明开具、房屋漏水与邻里…"). The prompt's
    punctuation separates items, so a run cannot join the end of one service's name to the start
    of the next. Runs are taken greedily from the left, each as long as it can be.

    Returns:
        (share 0.0–1.0, number of distinct prompt items the copied runs come from); (0.0, 0)
        when either is empty.
    """
    a, b = _NOT_WORD.sub("", text.lower()), _NOT_WORD.sub("\0", prompt.lower())
    if not a or not b.strip("\0"):
        return 0.0, 0
    copied, items, i = 0, set(), 0
    while i < len(a):
        n = 0
        while i + n < len(a) and a[i : i + n + 1] in b:
            n += 1
        if n >= min_run:
            copied += n
            items.add(b.count("\0", 0, b.find(a[i : i + n])))  # an item's index: separators before it
            i += n
        else:
            i += 1
    return copied / len(a), len(items)


@dataclass
class Transcript:
    """What the resident said.

    Attributes:
        text: recognised text (Simplified Chinese), "" when the turn was dropped.
        language: detected or configured language code ('zh', 'en', ...).
        language_prob: detection probability (1.0 when the language was configured).
        dropped: why the turn was dropped (hallucination guard), None when kept.
        rejected_segments: (text, reason) of segments removed by the guard.
        duration_ms: time spent in the model, ms.
    """

    text: str
    language: str
    language_prob: float
    dropped: str | None = None
    rejected_segments: list[tuple[str, str]] = field(default_factory=list)
    duration_ms: float = 0.0


def build_initial_prompt(titles: Iterable[str], terms: Iterable[str] = (), *, max_chars: int = PROMPT_MAX_CHARS) -> str:
    """A Whisper prompt naming the services, in Simplified Chinese punctuation.

    Args:
        titles: document titles of the knowledge base (the most important go first).
        terms: further vocabulary (official terms and residents' words from the synonyms file).
        max_chars: cap on the prompt length, characters.

    Returns:
        e.g. "社区服务咨询：社会保障卡挂失与补办、居住证办理、…。" ("" when there is nothing).
    """
    head = "社区服务咨询："
    words: list[str] = []
    seen: set[str] = set()
    size = len(head)
    for w in [*titles, *terms]:
        w = w.strip()
        if not w or w in seen:
            continue
        if size + len(w) + 1 > max_chars:
            break
        seen.add(w)
        words.append(w)
        size += len(w) + 1
    return head + "、".join(words) + "。" if words else ""


def default_compute_type(device: str) -> str:
    """int8 on CPU, float16 on CUDA (CTranslate2's fastest types on each)."""
    return "float16" if device == "cuda" else "int8"


def detect_device() -> str:
    """'cuda' when CTranslate2 sees a CUDA device (a Jetson, a GPU box), else 'cpu'."""
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # no CUDA runtime at all
        return "cpu"


class EncoderMemo:
    """faster-whisper's ``WhisperModel.encode`` that remembers its last input and output.

    Whisper's encoder is most of a short turn's cost, and it runs twice for a turn whose language
    is identified first (``detect_language``, then ``transcribe``, which encodes the same window
    again). Keyed by the input's shape and a BLAKE2b digest of its bytes, so a different input is
    never answered from the memo (a change in faster-whisper's windowing costs speed, not
    correctness). One entry: one 30 s window's output, 1,500 × 512 float32 for Whisper base.

    Args:
        encode: the model's own ``encode(features: float32 (80|128, 3000)) -> StorageView``.
    """

    def __init__(self, encode):
        self._encode = encode
        self._last: tuple[tuple, object] | None = None
        self.hits = 0

    def __call__(self, features: np.ndarray):
        array = np.ascontiguousarray(features)
        key = (array.shape, str(array.dtype), hashlib.blake2b(array.tobytes(), digest_size=16).digest())
        last = self._last
        if last is not None and last[0] == key:
            self.hits += 1
            return last[1]
        out = self._encode(features)
        self._last = (key, out)
        return out


class WhisperASR:
    """faster-whisper over a local CTranslate2 Whisper folder.

    Args:
        folder: the model folder (model.bin, config.json, tokenizer.json ...).
        name: catalogue name, for logs and the journal.
        language: 'zh' or 'en' (forced), 'site' (detect per turn among ``languages``) or 'auto'
            (detect per turn among all of Whisper's).
        languages: the site's languages, for 'site'.
        device: 'cpu', 'cuda' or 'auto'.
        compute_type: CTranslate2 type, 'auto' = int8 on CPU, float16 on CUDA.
        threads: CPU threads (0 = CTranslate2's default).
        beam_size: beam width (1 = greedy: the fastest; 5 is Whisper's default).
        initial_prompt: vocabulary prompt (see :func:`build_initial_prompt`).
        guard: hallucination thresholds.

    Raises:
        RuntimeError, ValueError, OSError: faster-whisper cannot load the folder (the loader in
            :mod:`models.loader` turns these into a message naming the ``kiosk models`` command).
    """

    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        language: str = "zh",
        languages: tuple[str, ...] = ("zh", "en"),
        device: str = "auto",
        compute_type: str = "auto",
        threads: int = 0,
        beam_size: int = 1,
        initial_prompt: str = "",
        guard: Guard | None = None,
    ):
        from faster_whisper import WhisperModel
        from opencc import OpenCC

        self.device = detect_device() if device == "auto" else device
        self.compute_type = default_compute_type(self.device) if compute_type == "auto" else compute_type
        self._model = WhisperModel(
            str(folder), device=self.device, compute_type=self.compute_type, cpu_threads=threads, local_files_only=True
        )
        self._model.encode = EncoderMemo(self._model.encode)  # identify's encoder pass, reused by the decode
        self.name = name
        self.language = language
        self.languages = tuple(languages)
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.guard = guard or Guard()
        self._t2s = OpenCC("t2s")

    def identify(self, audio: np.ndarray) -> tuple[str, float]:
        """The language of ``audio`` among :attr:`languages`: Whisper's language identification
        (its first 30 s), the most probable of the site's languages, with its probability
        renormalised over them.

        The encoder's output for the first 30 s window is kept (:class:`EncoderMemo`) and the
        decode that follows reuses it: one encoder pass a turn instead of two (measured on 2
        cores with Whisper base: identification cost 0.7–0.9 s of a 1.9 s turn).

        Returns:
            (language code, probability in [0, 1]); the first site language when Whisper gives
            none of them any probability.
        """
        extractor = getattr(self._model, "feature_extractor", None)
        if extractor is None:
            _, _, probs = self._model.detect_language(audio)
        else:  # the first window exactly as transcribe() will encode it (it leaves out the last frame)
            _, _, probs = self._model.detect_language(features=extractor(audio)[:, :-1])
        allowed = {code: p for code, p in probs if code in self.languages}
        total = sum(allowed.values())
        if not allowed or total <= 0:
            return self.languages[0], 0.0
        best = max(allowed, key=allowed.__getitem__)
        return best, allowed[best] / total

    def transcribe(self, audio: np.ndarray, language: str | None = None, prompt: str | None = None) -> Transcript:
        """Recognise one utterance.

        Args:
            audio: float32 mono 16 kHz, shape (n,), in [-1, 1].
            language: override the configured language for this turn ('auto' or 'site' to detect).
            prompt: override the vocabulary prompt for this call ("" for none); by default the
                configured one, for decodes in a language other than English.

        Returns:
            The transcript; ``dropped`` is set (and ``text`` is "") when the guard removed everything.
        """
        lang = language or self.language
        t0 = time.perf_counter()
        audio = np.asarray(audio, dtype=np.float32)
        lang_prob = None
        if lang == "site":  # one site language: nothing to identify
            lang, lang_prob = self.identify(audio) if len(self.languages) > 1 else (self.languages[0], None)
        if prompt is None:
            prompt = "" if lang == "en" else self.initial_prompt  # the prompt is Chinese (module docstring)
        segments, info = self._model.transcribe(
            audio,
            language=None if lang == "auto" else lang,
            max_new_tokens=min(TOKENS_MAX, int(TOKENS_PER_S * min(WINDOW_S, audio.size / 16000)) + TOKENS_MIN),
            temperature=list(TEMPERATURES),
            beam_size=self.beam_size,
            initial_prompt=prompt or None,
            condition_on_previous_text=False,
            vad_filter=False,  # the pipeline's own VAD already cut the turn
            no_speech_threshold=self.guard.no_speech_threshold,
            log_prob_threshold=self.guard.log_prob_threshold,
            compression_ratio_threshold=self.guard.compression_ratio_threshold,
        )
        kept: list[str] = []
        rejected: list[tuple[str, str]] = []
        for seg in segments:  # decoding happens while iterating
            text = self._t2s.convert(seg.text.replace("\ufffd", "").strip())  # a character cut by the token bound
            why = self.guard.reject(
                text, seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio, prompt=prompt, language=info.language
            )
            if why is None:
                kept.append(text)
            else:
                rejected.append((text, why))
        sep = " " if info.language == "en" else ""
        text = sep.join(kept).strip()
        dropped = None
        if not text:
            dropped = rejected[0][1] if rejected else "no speech recognised"
        return Transcript(
            text=text,
            language=info.language,
            language_prob=float(info.language_probability if lang_prob is None else lang_prob),
            dropped=dropped,
            rejected_segments=rejected,
            duration_ms=(time.perf_counter() - t0) * 1e3,
        )
