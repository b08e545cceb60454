"""A tiny synthetic Whisper for CTranslate2 that "hears" one fixed phrase in any audio.

:func:`write_tiny_whisper` writes, in a fraction of a second, a model directory of about 10 MB
(``model.bin``, ``config.json``, ``vocabulary.json``, ``tokenizer.json``,
``preprocessor_config.json``) that the real ``faster_whisper.WhisperModel`` loads like any
converted checkpoint. Whatever the audio, it transcribes exactly ``phrase``, detects ``language``
and is sure of both: no-speech probability ~0 and log-probabilities ~0, so faster-whisper never
skips the window nor falls back to sampling. It is for tests and development machines: the real
faster-whisper/CTranslate2 code path runs (features, encoder, language detection, prompts, greedy
and beam search, timestamp rules, segments) without real weights, which cannot be downloaded here.

Why the output is fixed. The encoder weights are all zero and so are the decoder's position
embeddings and its cross-attention and feed-forward outputs: the audio never reaches the decoder
and the residual stream carries only the current token's embedding, plus one flag described below.
Every token is one-hot over a few "states" (all but the tokens of the chain share a junk state),
and the projection is a bigram table over them, each step scoring 50 logits above the rest::

    <|startoftranscript|> -> <|lang|>        (read by language detection; <|nospeech|> gets ~0)
    <|transcribe|>        -> <|0.00|>        (the timestamp rules want a timestamp first)
    <|0.00|> or <|notimestamps|> -> piece 1 -> ... -> piece n
    piece n -> <|1.00|> -> <|endoftext|>     (one segment, 0.00 s to 1.00 s)
    piece n -> <|endoftext|>                 (without_timestamps=True)

A bigram cannot tell the last two lines apart, so the decoder's one self-attention head looks for
``<|notimestamps|>`` in the context (a constant query, a key that is large only on that token)
and copies a flag into the residual stream; the flag vetoes the closing timestamp. An
``initial_prompt`` only adds junk tokens before ``<|startoftranscript|>``, which change nothing.
The chain's tokens and ``<|endoftext|>`` sit below every junk token off their own step, so a stray
hypothesis of the beam search can never finish early (CTranslate2's beam search stops once enough
hypotheses have finished and would then return a truncated phrase).

Vocabulary. Each piece of the phrase has its own token so the chain never branches: the phrase is
cut into single CJK characters, ASCII words with their leading space and other characters; pieces
of one byte join a neighbour (so none can be a byte token that faster-whisper suppresses) and a
repeated piece absorbs its neighbour until every piece is unique. Long phrases are grouped into at
most :data:`MAX_PIECES` pieces, the states available in ``D_MODEL`` dimensions. The tokenizer is
byte-level BPE without merges: encoding any text (prompts, the symbols faster-whisper suppresses)
gives byte tokens, and the pieces are only ever produced by the model. The layout is Whisper
large-v3's, which CTranslate2 and faster-whisper rely on: 51866 ids, namely 50257 text tokens
(256 bytes, the pieces, the empty token ``""`` by which CTranslate2 4.8 recognises a multilingual
model, fillers), ``<|endoftext|>``, ``<|startoftranscript|>``, 100 language tokens,
``<|translate|>``, ``<|transcribe|>``, ``<|startoflm|>``, ``<|startofprev|>``, ``<|nospeech|>``,
``<|notimestamps|>``, then the 1501 timestamps ``<|0.00|>``..``<|30.00|>``, which must be last.
Older CTranslate2 releases call a vocabulary of at least 51865 tokens multilingual; both hold.

Limit: the cross-attention is uniform, so ``word_timestamps=True`` puts every word at 0.00 s and
faster-whisper drops the segment (no output).
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np

#: Whisper's language tokens, in the order of the large-v3 vocabulary.
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la "
    "mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be "
    "tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue"
).split()

D_MODEL = 64
N_TEXT_TOKENS = 50257  # ids below <|endoftext|>, as in Whisper
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>, 0.02 s apart
CLOSE_TIMESTAMP = 50  # the segment ends at <|1.00|>
N_MELS = 80
_TASKS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>")
# One-hot states of the residual stream: every token but these is JUNK; the pieces follow. The
# sink dimension balances the projection; the flag means "<|notimestamps|> is in the context".
_SOT, _TASK, _NOTS, _TS_OPEN, _TS_CLOSE, _JUNK, _FIRST_PIECE = range(7)
_SINK, _FLAG = D_MODEL - 2, D_MODEL - 1
MAX_PIECES = _SINK - _FIRST_PIECE
_MARGIN = 50.0  # logit of the next token of the chain over the background (0)
_PENALTY = 20.0  # logit of a chain token under the background, off its step
_EOT_PENALTY = 60.0  # same for <|endoftext|>
_MAX_COMPRESSION_RATIO = 2.4  # faster-whisper's default threshold for temperature fallback


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-in character for each byte (the byte-level BPE alphabet), by byte value."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def _pieces(phrase: str) -> list[str]:
    """Cut ``phrase`` into at most :data:`MAX_PIECES` unique pieces of at least two UTF-8 bytes each."""
    pieces = re.findall(r"\s*[A-Za-z0-9']+|\s*\S|\s+", phrase)
    merged: list[str] = []
    for piece in pieces:  # one-byte pieces (ASCII punctuation, spaces) join their neighbour
        if merged and (len(piece.encode()) < 2 or len(merged[-1].encode()) < 2):
            merged[-1] += piece
        else:
            merged.append(piece)
    if len(merged) > MAX_PIECES:  # too many states for the model width: group neighbours evenly
        size = -(-len(merged) // MAX_PIECES)
        merged = ["".join(merged[i : i + size]) for i in range(0, len(merged), size)]
    unique: list[str] = []
    for piece in merged:  # a repeated piece absorbs the next one until it is new
        if unique and unique[-1] in unique[:-1]:
            unique[-1] += piece
        else:
            unique.append(piece)
    while len(unique) > 1 and unique[-1] in unique[:-1]:
        last = unique.pop()
        unique[-1] += last
    return unique


def _layer_norm(x: np.ndarray) -> np.ndarray:
    """Layer norm without scale and shift, with CTranslate2's epsilon."""
    return (x - x.mean()) / np.sqrt(x.var() + 1e-5)


def write_tiny_whisper(folder: Path, phrase: str = "我社保卡掉了怎麼辦", *, language: str = "zh") -> Path:
    """Write a tiny CTranslate2 Whisper model that transcribes any audio as ``phrase``.

    Load it with ``faster_whisper.WhisperModel(str(folder), device="cpu", compute_type="int8")`` (any
    compute type works). The joined text of the segments is exactly ``phrase``; with timestamps it is
    one segment from 0.00 s to 1.00 s. Language detection answers ``language`` with probability ~1,
    ``no_speech_prob`` is ~0 and ``avg_logprob`` ~0, for any 16 kHz audio of up to 30 s, any beam
    size, with or without ``initial_prompt``. Weights are int8; the directory holds about 10 MB.

    Args:
        folder: directory to write (created if missing; existing model files are overwritten).
        phrase: the transcript. At least two UTF-8 bytes of non-blank text, not gzip-compressible
            beyond faster-whisper's 2.4 ratio (that would trigger its temperature fallback), and no
            piece equal to a special token such as ``<|en|>``.
        language: the language the model detects, one of :data:`LANGUAGES` (Whisper's codes).

    Returns:
        ``folder``.

    Raises:
        ValueError: ``language`` is not a Whisper language code, or ``phrase`` cannot be encoded
            (blank, a single byte, too repetitive, or colliding with a special token).
    """
    from ctranslate2.specs import whisper_spec
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if language not in LANGUAGES:
        raise ValueError(f"{language!r} is not a Whisper language code")
    data = phrase.strip().encode()
    if len(phrase.encode()) < 2 or not data:
        raise ValueError(f"the tiny Whisper cannot say {phrase!r}: it needs at least two bytes of non-blank text")
    if len(data) / len(zlib.compress(data)) > _MAX_COMPRESSION_RATIO:
        raise ValueError(f"{phrase!r} is too repetitive: faster-whisper would retry it at higher temperatures")

    # Vocabulary, in Whisper large-v3 order.
    byte_chars = _byte_chars()
    pieces = ["".join(byte_chars[b] for b in piece.encode()) for piece in _pieces(phrase)]
    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in LANGUAGES),
        *_TASKS,
        *(f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)),
    ]
    if set(pieces) & set(specials):
        raise ValueError(f"{phrase!r} contains a special token of the Whisper vocabulary")
    text = byte_chars + pieces + [""]  # CTranslate2 4.8 takes the "" token as the mark of a multilingual model
    taken = set(text)
    text += [f for f in (f"<unused_{i}>" for i in range(N_TEXT_TOKENS)) if f not in taken][: N_TEXT_TOKENS - len(text)]
    tokens = text + specials
    ids = {token: i for i, token in enumerate(tokens)}
    eot, ts_open, ts_close = ids["<|endoftext|>"], ids["<|0.00|>"], ids[f"<|{CLOSE_TIMESTAMP * 0.02:.2f}|>"]
    piece_ids = [ids[p] for p in pieces]
    last = _FIRST_PIECE + len(pieces) - 1

    # Embeddings: every token is one-hot, so the layer norms map each token to the same two values:
    # ``on`` in its state dimension and ``off`` elsewhere.
    embeddings = np.zeros((len(tokens), D_MODEL), np.float32)
    embeddings[:, _JUNK] = 1.0
    states = {ids["<|startoftranscript|>"]: _SOT, ids["<|transcribe|>"]: _TASK, ids["<|translate|>"]: _TASK}
    states |= {ids["<|notimestamps|>"]: _NOTS, ts_open: _TS_OPEN, ts_close: _TS_CLOSE}
    states |= {token: _FIRST_PIECE + i for i, token in enumerate(piece_ids)}
    for token, state in states.items():
        embeddings[token] = np.eye(D_MODEL)[state]
    on, off = _layer_norm(np.eye(D_MODEL)[0])[:2]
    flagged = _layer_norm(np.eye(D_MODEL)[0] + np.eye(D_MODEL)[_FLAG])
    # Projection rows sum to zero (the sink dimension balances them), so a token's logit is
    # scale * (weight of the state [+ weight of the flag]) + bias, and 0 (the background) for most.
    scale, scale_flagged = on - off, flagged[0] - flagged[1]
    projection = np.zeros((len(tokens), D_MODEL), np.float32)
    bias = np.zeros(len(tokens), np.float32)
    chain = [(ids[f"<|{language}|>"], _SOT), (ts_open, _TASK), (piece_ids[0], _NOTS), (piece_ids[0], _TS_OPEN)]
    chain += [(piece_ids[i + 1], _FIRST_PIECE + i) for i in range(len(pieces) - 1)]
    chain += [(ts_close, last)]
    # Each step of the chain scores _MARGIN (about 30 with the flag); its tokens sit _PENALTY under
    # the background elsewhere, so that no stray beam picks one up, ends early and stops the search.
    for token, state in chain:
        projection[token, state] = (_MARGIN + _PENALTY) / scale
        bias[token] = -_PENALTY
    # The flag vetoes the closing timestamp and lets <|endoftext|> follow the last piece directly.
    projection[ts_close, _FLAG] = -2 * projection[ts_close, last]
    # <|endoftext|> scores _MARGIN after the closing timestamp, _MARGIN / 2 after the last piece
    # (under the timestamp) and _MARGIN there with the flag; elsewhere it is under the background.
    projection[eot, _TS_CLOSE] = (_MARGIN + _EOT_PENALTY) / scale
    projection[eot, last] = (_MARGIN / 2 + _EOT_PENALTY) / scale
    projection[eot, _FLAG] = (_MARGIN + _EOT_PENALTY) / scale_flagged - projection[eot, last]
    bias[eot] = -_EOT_PENALTY
    projection[:, _SINK] = -projection.sum(axis=1)

    spec = whisper_spec.WhisperSpec(1, 1, 1, 1)
    spec.decoder.embeddings.weight = embeddings
    _linear(spec.decoder.projection, len(tokens), D_MODEL)
    spec.decoder.projection.weight, spec.decoder.projection.bias = projection, bias
    spec.decoder.position_encodings.encodings = np.zeros((448, D_MODEL), np.float32)
    spec.encoder.position_encodings.encodings = np.zeros((1500, D_MODEL), np.float32)
    _linear(spec.encoder.conv1, D_MODEL, N_MELS, 3)
    _linear(spec.encoder.conv2, D_MODEL, D_MODEL, 3)
    for layer in (spec.encoder.layer[0], spec.decoder.layer[0]):
        _linear(layer.self_attention.linear[0], 3 * D_MODEL, D_MODEL)
        _linear(layer.self_attention.linear[1], D_MODEL, D_MODEL)
        _linear(layer.ffn.linear_0, D_MODEL, D_MODEL)
        _linear(layer.ffn.linear_1, D_MODEL, D_MODEL)
    cross = spec.decoder.layer[0].attention
    for linear, rows in zip(cross.linear, (D_MODEL, 2 * D_MODEL, D_MODEL), strict=True):
        _linear(linear, rows, D_MODEL)
    for norm in (spec.encoder.layer_norm, spec.decoder.layer_norm, *_sublayer_norms(spec)):
        norm.gamma, norm.beta = np.ones(D_MODEL, np.float32), np.zeros(D_MODEL, np.float32)

    # The flag head: a constant query meets a key that is large only on <|notimestamps|> (score 25
    # there, under 1 elsewhere); the value is 1 on that token and exactly 0 on any other.
    self_attention = spec.decoder.layer[0].self_attention
    qkv = self_attention.linear[0]
    qkv.bias[0] = 25.0 * np.sqrt(D_MODEL) / on
    qkv.weight[D_MODEL, _NOTS] = 1.0
    qkv.weight[2 * D_MODEL, _NOTS] = 1.0 / (on - off)
    qkv.bias[2 * D_MODEL] = -off / (on - off)
    self_attention.linear[1].weight[_FLAG, 0] = 1.0

    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [ids[byte_chars[ord(" ")]], eot]
    spec.config.lang_ids = [ids[f"<|{code}|>"] for code in LANGUAGES]
    spec.config.alignment_heads = [(0, 0)]
    spec.register_vocabulary(tokens)
    spec.validate()
    spec.optimize(quantization="int8")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))

    tokenizer = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(text)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    tokenizer.save(str(folder / "tokenizer.json"))
    preprocessor = {"feature_size": N_MELS, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400}
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n", encoding="utf-8")
    return folder


def _linear(spec: Any, *shape: int) -> None:
    """Zero weight of ``shape`` and zero bias for a linear or convolution spec."""
    spec.weight = np.zeros(shape, np.float32)
    spec.bias = np.zeros(shape[0], np.float32)


def _sublayer_norms(spec: Any) -> list[Any]:
    """The layer norms in front of every attention and feed-forward sublayer."""
    layers = [spec.encoder.layer[0], spec.decoder.layer[0]]
    sublayers = [layer.self_attention for layer in layers] + [layer.ffn for layer in layers]
    return [sublayer.layer_norm for sublayer in [*sublayers, spec.decoder.layer[0].attention]]
