"""Echo gating: is what the microphone hears the appliance's own voice coming back?

Lobby speakers leak into the microphone; without a check, the appliance would interrupt itself.
For each captured frame this compares the frame with the audio played during the last
``max_delay_ms`` (the speaker → room → microphone path plus buffering) by normalised
cross-correlation over all lags. The squared peak, ρ², is the share of the frame's energy that
a delayed, scaled copy of the played signal explains (the least-squares fit of one tap; the
residual is 1 − ρ² of the energy). A frame with ρ² ≥ ``threshold`` is treated as echo and does
not count as the resident's speech.

This is a gate, not echo cancellation: it decides, it does not subtract. It works when the leak is
mostly direct sound; in a very reverberant hall the correlation falls and the raised VAD threshold
while speaking (:class:`voice.endpoint.Endpointer`) and the half-duplex option are the fallbacks.
A real acoustic echo canceller (speexdsp, WebRTC APM) belongs in the capture path of such a site.
"""

from __future__ import annotations

import numpy as np

from voice.audio import FRAME_SAMPLES, SAMPLE_RATE


class EchoGate:
    """Decides, frame by frame, whether captured audio is the played-back signal.

    Args:
        max_delay_ms: longest speaker-to-microphone delay searched, ms.
        threshold: ρ² at or above which a frame is echo (0.5: the played signal explains at least
            half of the frame's energy).
        silence_rms: a reference quieter than this (RMS, full scale 1.0) means nothing was
            playing: the frame cannot be echo.
    """

    def __init__(self, max_delay_ms: float = 250.0, threshold: float = 0.5, silence_rms: float = 1e-3):
        self.max_delay_s = max_delay_ms / 1000
        self.threshold = threshold
        self.silence_rms = silence_rms

    def window(self, t: float) -> tuple[float, float]:
        """The reference interval (monotonic seconds) to compare with a frame captured at ``t``."""
        return t - self.max_delay_s, t + FRAME_SAMPLES / SAMPLE_RATE

    def score(self, frame: np.ndarray, reference: np.ndarray) -> float:
        """ρ²: the largest squared normalised cross-correlation of ``frame`` with ``reference``.

        Args:
            frame: float32, shape (512,), 16 kHz.
            reference: float32 16 kHz, at least as long as the frame; the audio played over the
                window from :meth:`window`.
        """
        if reference.size < frame.size or np.sqrt(np.mean(reference**2)) < self.silence_rms:
            return 0.0
        energy = float(frame @ frame)
        if energy <= 1e-12:
            return 0.0
        corr = np.correlate(reference, frame, mode="valid")  # one value per lag
        csum = np.concatenate([[0.0], np.cumsum(reference.astype(np.float64) ** 2)])
        ref_energy = csum[frame.size :] - csum[: -frame.size]
        rho2 = corr**2 / (energy * np.maximum(ref_energy, 1e-12))
        return float(min(1.0, rho2.max()))

    def is_echo(self, frame: np.ndarray, reference: np.ndarray) -> bool:
        """True when the frame is mostly the played signal (see :meth:`score`)."""
        return self.score(frame, reference) >= self.threshold
