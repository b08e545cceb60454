"""Tiny synthetic models, built on the spot, so the real model code paths run without real weights.

:func:`write_tiny_llama_gguf` writes a llama-architecture GGUF of a few hundred kilobytes with a
SentencePiece-style vocabulary (byte fallback, so any UTF-8 text tokenises), random weights, a
chat template of its own and mean pooling, which llama-cpp-python loads for chat completion,
token streaming and embeddings. Its output is gibberish by construction: it proves the plumbing,
not the wording.

Requires the ``gguf`` package (a development dependency).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The tiny model's chat template (Jinja, as in ``tokenizer.chat_template``). Distinctive markers
#: make it visible in a rendered prompt that the model's own template was used.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
TINY_SPECIAL_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")


def write_tiny_llama_gguf(
    path: Path,
    *,
    n_embd: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_ff: int = 128,
    n_ctx: int = 2048,
    seed: int = 0,
    chat_template: str = TINY_CHAT_TEMPLATE,
    name: str = "tiny-llama-test",
) -> Path:
    """Write a tiny llama-architecture GGUF to ``path`` and return it.

    Args:
        n_embd: hidden size; also the embedding dimension seen by ``Llama.embed``.
        n_layer: transformer blocks.
        n_head: attention heads (``n_embd`` must be divisible by it).
        n_ff: feed-forward size.
        n_ctx: trained context length written to the metadata, tokens.
        seed: random seed of the weights (same seed, same file).

    Vocabulary: ``<unk>``, ``<s>``, ``</s>``, the chat-template markers as control tokens, the 256
    byte tokens ``<0x00>``…``<0xFF>``, and a few hundred word pieces (ASCII and common CJK).
    """
    import gguf

    rng = np.random.default_rng(seed)
    tokens: list[str] = ["<unk>", "<s>", "</s>", *TINY_SPECIAL_TOKENS]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.CONTROL] * len(
        TINY_SPECIAL_TOKENS
    )
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces = ["▁"] + [f"▁{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz")
    pieces += list(
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
    )
    pieces = list(dict.fromkeys(p for p in pieces if p not in tokens))
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * (len(tokens) - len(pieces)) + [-float(i) for i in range(len(pieces))]
    n_vocab = len(tokens)
    head_dim = n_embd // n_head

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types([int(t) for t in types])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(chat_template)

    def weight(*shape: int, scale: float = 0.08) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd, scale=0.5))
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(n_vocab, n_embd, scale=1.0))

    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


#: Names the tiny models are installed under by :func:`write_tiny_models_archive`.
TINY_MODELS = {"llm": "tiny-llm", "asr": "tiny-whisper", "tts-zh": "tiny-piper-zh", "tts-en": "tiny-piper-en"}

#: Settings that make the appliance use the tiny models (``kiosk.toml`` syntax).
TINY_SETTINGS_TOML = f"""\
[llm]
enabled = true
model = "{TINY_MODELS["llm"]}"

[embedding]
enabled = false

[asr]
model = "{TINY_MODELS["asr"]}"

[tts.voices]
zh = "{TINY_MODELS["tts-zh"]}"
en = "{TINY_MODELS["tts-en"]}"
"""

DEFAULT_TINY_PHRASE = "我社保卡掉了怎麼辦"
"""What the tiny Whisper hears in any audio (Traditional 麼/辦 on purpose: the ASR stage must
convert it to Simplified)."""


def _model_folder(root: Path, name: str, role: str, main: str | None, description: str) -> None:
    """Write ``manifest.json`` for the files already in ``root/name`` (the archive format of
    :func:`models.transfer.import_archive` for models outside the catalogue)."""
    import json

    from models.store import MANIFEST, sha256_file

    folder = root / name
    files = [
        {"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    ]
    manifest = {
        "name": name,
        "role": role,
        "main": main,
        "description": description,
        "license": "synthetic test model (no training data)",
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")


def write_tiny_models_archive(out: Path, *, phrase: str = DEFAULT_TINY_PHRASE) -> Path:
    """A models archive with a tiny model for every role of the voice loop, for ``kiosk models import``.

    It holds ``tiny-llm`` (:func:`write_tiny_llama_gguf`), ``tiny-whisper`` (a Whisper that hears
    ``phrase`` in any audio, :func:`models.tiny_whisper.write_tiny_whisper`) and ``tiny-piper-zh``
    / ``tiny-piper-en`` (Piper-shaped voices that speak tones, :mod:`models.tiny_piper`), each with
    its manifest. :data:`TINY_SETTINGS_TOML` selects them. The whole loop then runs on any
    development machine: the answers are real (from the knowledge base), the transcript is fixed
    and the voice is tones.

    Args:
        out: the archive to write (``.tar``, or gzip with ``.tar.gz``/``.tgz``).
        phrase: what the tiny Whisper transcribes.

    Returns:
        ``out``.

    Raises:
        ValueError: ``phrase`` cannot be encoded by the tiny Whisper's vocabulary.
    """
    import tarfile
    import tempfile

    from models.tiny_piper import write_tiny_piper_voice
    from models.tiny_whisper import write_tiny_whisper

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        llm = TINY_MODELS["llm"]
        (root / llm).mkdir()
        write_tiny_llama_gguf(root / llm / "tiny-llm.gguf")
        _model_folder(root, llm, "llm", "tiny-llm.gguf", "random tiny llama GGUF (gibberish output)")
        asr = TINY_MODELS["asr"]
        write_tiny_whisper(root / asr, phrase)
        _model_folder(root, asr, "asr", None, f"tiny Whisper that hears {phrase!r} in any audio")
        for lang in ("zh", "en"):
            name = TINY_MODELS[f"tts-{lang}"]
            onnx = write_tiny_piper_voice(root / name, lang)
            _model_folder(root, name, "tts", onnx.name, "tiny Piper-shaped voice (tones, not speech)")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz" if out.suffix in (".gz", ".tgz") else "w") as tar:
            for name in TINY_MODELS.values():
                tar.add(root / name, arcname=name)
    return out
