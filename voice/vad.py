"""Voice activity detection: Silero VAD v6, the ONNX file shipped inside faster-whisper, on onnxruntime.

No torch and no ``silero-vad`` package: the model is the one faster-whisper uses for its own VAD
filter (``faster_whisper/assets/silero_vad_v6.onnx``), run here frame by frame with its recurrent
state carried between calls, which is what streaming needs.

The ONNX graph (read from the file): inputs ``input`` float32 [batch, 576] (64 samples of context
from the previous frame + a 512-sample frame at 16 kHz), ``h`` and ``c`` float32 [1, 1, 128] (LSTM
state); outputs ``speech_probs`` [batch], ``hn``, ``cn``. faster-whisper's ``SileroVADModel`` feeds
the same context layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voice.audio import FRAME_SAMPLES, AudioError

CONTEXT_SAMPLES = 64
"""Samples of the previous frame prepended to each frame (Silero v5+ at 16 kHz)."""
STATE_SHAPE = (1, 1, 128)


def bundled_model_path() -> Path:
    """The Silero VAD ONNX file inside the installed faster-whisper package.

    Raises:
        AudioError: faster-whisper is not installed or its package lacks the file.
    """
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:
        raise AudioError("faster-whisper is not installed; run scripts/setup") from exc
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        raise AudioError(f"Silero VAD model missing from the faster-whisper package: {path}")
    return path


class SileroVAD:
    """Streaming speech probability per 32 ms frame.

    Args:
        path: the ONNX file (default: :func:`bundled_model_path`).
        threads: onnxruntime intra-op threads (1 is plenty: ~0.1 ms per frame on x86).

    Raises:
        AudioError: the model file is missing or onnxruntime cannot load it.
    """

    name = "silero-vad-v6"

    def __init__(self, path: Path | None = None, *, threads: int = 1):
        import onnxruntime

        self.path = path or bundled_model_path()
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise AudioError(f"cannot load the VAD model {self.path}: {exc}") from exc
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state and context (a new stream)."""
        self._h = np.zeros(STATE_SHAPE, np.float32)
        self._c = np.zeros(STATE_SHAPE, np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """Speech probability in [0, 1] of one frame.

        Args:
            frame: float32 mono, shape (512,), 16 kHz, in [-1, 1].

        Raises:
            ValueError: the frame is not 512 samples.
        """
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"VAD frames are {FRAME_SAMPLES} samples at 16 kHz, got shape {frame.shape}")
        x = np.concatenate([self._context, frame.astype(np.float32, copy=False)])[None, :]
        prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = frame[-CONTEXT_SAMPLES:].astype(np.float32, copy=True)
        return float(np.asarray(prob).reshape(-1)[0])
