"""Lobby sounds that are not speech, made with numpy: float32 mono at 16 kHz, peak below 1.

Each one is a case for the hallucination guard (Whisper writes text for sounds that hold no words)
and for the VAD. The shapes follow the usual textbook models: white noise, pink noise by 1/f
shaping of the spectrum, mains hum at 50 Hz with its odd harmonics, a cough as two short noise
bursts through a vocal-tract-like band with a fast attack and an exponential decay, and a door slam
as a thud (a decaying low resonance) on a broadband impact with a short reverberant tail.
"""

from __future__ import annotations

import numpy as np

SR = 16000


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _band(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """``x`` with its spectrum outside low_hz..high_hz removed (FFT mask)."""
    spectrum = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1 / SR)
    spectrum[(f < low_hz) | (f > high_hz)] = 0
    return np.fft.irfft(spectrum, n=x.size)


def _peak(x: np.ndarray, peak: float) -> np.ndarray:
    return (x * (peak / max(float(np.max(np.abs(x))), 1e-12))).astype(np.float32)


def silence(seconds: float = 3.0) -> np.ndarray:
    """Digital silence."""
    return np.zeros(int(SR * seconds), np.float32)


def white_noise(seconds: float = 3.0, rms: float = 0.05, seed: int = 1) -> np.ndarray:
    """Gaussian white noise at ``rms`` (full scale 1)."""
    return (_rng(seed).normal(0, rms, int(SR * seconds))).astype(np.float32)


def pink_noise(seconds: float = 3.0, rms: float = 0.05, seed: int = 2) -> np.ndarray:
    """Pink (1/f power) noise: white noise whose spectrum is scaled by 1/sqrt(f)."""
    n = int(SR * seconds)
    spectrum = np.fft.rfft(_rng(seed).normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n=n)
    return (x * rms / np.sqrt(np.mean(x**2))).astype(np.float32)


def hum(seconds: float = 3.0, mains_hz: float = 50.0, peak: float = 0.3) -> np.ndarray:
    """Mains hum: the fundamental and its 3rd and 5th harmonics (a transformer's buzz)."""
    t = np.arange(int(SR * seconds)) / SR
    x = sum(a * np.sin(2 * np.pi * k * mains_hz * t) for k, a in ((1, 1.0), (3, 0.4), (5, 0.2)))
    return _peak(x, peak)


def cough(seed: int = 3, peak: float = 0.6) -> np.ndarray:
    """Two coughs (about 0.3 s each, 0.25 s apart) in 2 s of quiet room: noise through a
    300-3,500 Hz band, 10 ms attack, 80 ms exponential decay."""
    rng = _rng(seed)
    out = rng.normal(0, 0.002, 2 * SR)
    n = int(0.3 * SR)
    t = np.arange(n) / SR
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / 0.08)
    for start_s in (0.5, 1.05):
        burst = _band(rng.normal(0, 1, n), 300, 3500) * envelope
        i = int(start_s * SR)
        out[i : i + n] += burst / np.max(np.abs(burst)) * peak
    return _peak(out, peak)


def door_slam(seed: int = 4, peak: float = 0.9) -> np.ndarray:
    """A door slamming at 0.5 s in 2 s of quiet room: a 5 ms broadband impact, a 70 Hz thud
    decaying over 150 ms and a 400 ms reverberant noise tail."""
    rng = _rng(seed)
    out = rng.normal(0, 0.002, 2 * SR)
    n = int(0.6 * SR)
    t = np.arange(n) / SR
    impact = rng.normal(0, 1, n) * np.exp(-t / 0.005)
    thud = np.sin(2 * np.pi * 70 * t) * np.exp(-t / 0.15)
    tail = _band(rng.normal(0, 0.15, n), 100, 4000) * np.exp(-t / 0.4)
    i = int(0.5 * SR)
    out[i : i + n] += impact + thud + tail
    return _peak(out, peak)


NON_SPEECH = {
    "silence": silence,
    "white-noise": white_noise,
    "pink-noise": pink_noise,
    "hum-50Hz": hum,
    "cough": cough,
    "door-slam": door_slam,
}
"""Name -> a function making the sound with its defaults."""
