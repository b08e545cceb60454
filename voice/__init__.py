"""Audio to text and text to audio: devices and files, VAD (Silero), endpointing, ASR
(faster-whisper), TTS (Piper), sentence chunking, playback and the echo gate."""
