"""Speech synthesis: Piper voices (piper-tts, ONNX), espeak-ng as a fallback, or text only.

One synthesiser per language (``zh``, ``en``), chosen by :class:`Voices`:

1. the Piper voice configured for the language (``.onnx`` + ``.onnx.json``, installed by
   ``kiosk models``), run by piper-tts on onnxruntime;
2. else espeak-ng, when the ``espeak-ng`` program is installed: robotic but intelligible;
3. else nothing: the answer is shown, not spoken (the log says which was chosen and why).

Every synthesiser takes one piece of text (a sentence or clause from
:class:`voice.chunker.SentenceChunker`, already passed through :func:`voice.speakable.speakable`)
and returns float32 mono samples in [-1, 1] at its ``sample_rate``.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

ESPEAK_VOICES = {"zh": ("cmn-latn-pinyin", "cmn"), "en": ("en-us", "en")}
"""espeak-ng voices per language, the first one installed is used. Mandarin is ``cmn-latn-pinyin``
where espeak-ng has it: in espeak-ng 1.51 (Debian 12) the plain ``cmn`` voice reads Chinese
characters as English-lettered pinyin with tone digits ("hao two"; espeak-ng issues #1236, #1370),
``cmn-latn-pinyin`` speaks the same text as Mandarin."""


class TTSError(RuntimeError):
    """A voice that cannot be loaded or a synthesis that failed."""


class Synthesizer(Protocol):
    """Text in, audio out."""

    name: str
    lang: str
    sample_rate: int

    def synthesize(self, text: str) -> np.ndarray:
        """float32 mono samples in [-1, 1] at ``sample_rate`` (empty for empty text)."""
        ...


class PiperTTS:
    """A Piper voice through piper-tts.

    Args:
        onnx: the voice's ``.onnx`` file (its ``.onnx.json`` beside it).
        name: catalogue name.
        lang: 'zh' or 'en'.
        length_scale: speaking rate, >1 slower (1.1 suits elderly listeners); None = the voice's own.
        volume: sample multiplier.
        work_dir: where piper may keep helper files (it defaults to the current directory).

    Raises:
        TTSError: the file or its config is missing or unreadable, or onnxruntime cannot load it.
    """

    def __init__(
        self,
        onnx: Path,
        name: str,
        lang: str,
        *,
        length_scale: float | None = None,
        volume: float = 1.0,
        work_dir: Path | None = None,
    ):
        import json

        import onnxruntime
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig
        from piper.voice import ESPEAK_DATA_DIR

        config = Path(f"{onnx}.json")
        if not onnx.is_file() or not config.is_file():
            raise TTSError(f"Piper voice needs {onnx.name} and {config.name}; missing in {onnx.parent}")
        try:
            # PiperVoice.load, with onnxruntime's CPU memory arena off: the arena keeps the largest
            # activations any sentence needed (VITS's decoder holds hundreds of MB for a long one)
            # and grows with each new length; measured with the joe voice, resident memory rose
            # from 181 to 659 MiB over six sentences of 6-19 s with it, and fell back to ~340 MiB
            # between sentences without it, at the same speed after the first call.
            options = onnxruntime.SessionOptions()
            options.enable_cpu_mem_arena = False
            self._voice = PiperVoice(
                config=PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8"))),
                session=onnxruntime.InferenceSession(
                    str(onnx), sess_options=options, providers=["CPUExecutionProvider"]
                ),
                espeak_data_dir=Path(ESPEAK_DATA_DIR),
                download_dir=work_dir or Path.cwd(),
            )
        except Exception as exc:  # json, onnxruntime and piper raise their own types
            raise TTSError(f"cannot load Piper voice {onnx}: {exc}") from exc
        self._config = SynthesisConfig(length_scale=length_scale, volume=volume)
        self.name = name
        self.lang = lang
        self.sample_rate = int(self._voice.config.sample_rate)

    def synthesize(self, text: str) -> np.ndarray:
        if not text.strip():
            return np.zeros(0, np.float32)
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=self._config)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


class EspeakTTS:
    """espeak-ng as a subprocess (``--stdout`` WAV), for sites without a Piper voice.

    Args:
        lang: 'zh' or 'en'.
        speed: words per minute (espeak-ng's ``-s``; 150 is slower than its default 175).
        program: the executable.

    Raises:
        TTSError: espeak-ng is not installed.
    """

    def __init__(self, lang: str, *, speed: int = 150, program: str = "espeak-ng"):
        exe = shutil.which(program)
        if exe is None:
            raise TTSError(f"{program} is not installed")
        self._exe = exe
        self.lang = lang
        self.voice = _installed_voice(exe, ESPEAK_VOICES.get(lang, (lang,)))
        self.speed = speed
        self.name = f"espeak-ng:{self.voice}"
        self.sample_rate = 22050

    def synthesize(self, text: str) -> np.ndarray:
        import soundfile as sf

        if not text.strip():
            return np.zeros(0, np.float32)
        proc = subprocess.run(
            [self._exe, "-v", self.voice, "-s", str(self.speed), "--stdout", text],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            raise TTSError(f"espeak-ng failed: {proc.stderr.decode(errors='replace').strip()}")
        audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        self.sample_rate = rate
        return audio if audio.ndim == 1 else audio.mean(axis=1)


def _installed_voice(exe: str, wanted: tuple[str, ...]) -> str:
    """The first of ``wanted`` that ``espeak-ng --voices`` lists, else the last of them."""
    try:
        listing = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    names = {row.split()[1] for row in listing.splitlines()[1:] if len(row.split()) > 1}
    return next((v for v in wanted if v in names), wanted[-1])


@dataclass
class Voices:
    """The synthesiser for each language, and what was chosen.

    Attributes:
        by_lang: language → synthesiser (a language missing here is shown, not spoken).
        notes: one line per language saying which voice is used, or why none.
    """

    by_lang: dict[str, Synthesizer] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def for_lang(self, lang: str) -> Synthesizer | None:
        """The voice for ``lang``, else the Chinese one, else None (text only)."""
        return self.by_lang.get(lang) or self.by_lang.get("zh")

    @property
    def sample_rate(self) -> int:
        """Output rate: that of the first voice (22 050 Hz when there is none)."""
        return next((v.sample_rate for v in self.by_lang.values()), 22050)


def timed_synthesize(voice: Synthesizer, text: str) -> tuple[np.ndarray, float]:
    """(samples, milliseconds spent), converted to float32."""
    t0 = time.perf_counter()
    audio = voice.synthesize(text)
    return np.asarray(audio, dtype=np.float32), (time.perf_counter() - t0) * 1e3
