"""The voice pipeline (VAD, ASR, TTS, audio I/O): filled by the voice release."""
