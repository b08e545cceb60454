"""The real llama-cpp-python path, on a tiny GGUF model the tests build with the gguf package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.answer.engine import AnswerEngine
from appliance.answer.generative import build_messages
from appliance.config import Settings
from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.store import KnowledgeBase
from appliance.triage import Triage
from models.embedding import LlamaEmbedder
from models.llm import LlamaChatModel, gpu_offload
from models.loader import load_embedder, load_llm
from models.store import ModelError, ModelStore
from models.tiny import TINY_CHAT_TEMPLATE


@pytest.fixture(scope="module")
def chat(tiny_gguf: Path) -> LlamaChatModel:
    return LlamaChatModel(tiny_gguf, "tiny", n_ctx=2048, n_threads=2)


@pytest.fixture(scope="module")
def embedder(tiny_gguf: Path) -> LlamaEmbedder:
    return LlamaEmbedder(tiny_gguf, "tiny-embed", n_threads=2)


def test_chat_uses_the_models_own_template_and_streams(chat: LlamaChatModel) -> None:
    assert chat.chat_template == TINY_CHAT_TEMPLATE
    assert chat._llama.chat_format == "chat_template.default"  # llama-cpp-python renders the GGUF's template
    pieces = list(
        chat.stream_chat(
            [{"role": "system", "content": "规则"}, {"role": "user", "content": "社保卡丢了"}],
            max_tokens=24,
            temperature=0.0,
        )
    )
    assert len(pieces) >= 2 and all(isinstance(p, str) for p in pieces)
    again = list(
        chat.stream_chat(
            [{"role": "system", "content": "规则"}, {"role": "user", "content": "社保卡丢了"}],
            max_tokens=24,
            temperature=0.0,
        )
    )
    assert "".join(again) == "".join(pieces)  # greedy decoding is repeatable
    assert chat.count_tokens("<|user|>") == 1  # the template's markers are control tokens


def test_warm_keeps_each_system_prompt_state_and_a_turn_reuses_it(tiny_gguf: Path, demo_kb, site) -> None:
    chat = LlamaChatModel(tiny_gguf, "tiny", n_ctx=2048, n_threads=2)
    engine = AnswerEngine(
        Retriever(demo_kb), site.model_copy(update={"languages": ["zh", "en"]}), Triage.load(), llm=chat
    )
    thread = engine.warm()
    assert thread is not None
    thread.join(timeout=60)
    cache = chat._llama.cache
    assert cache is not None and len(cache.cache_state) == 2  # one state per language's system prompt
    # the last warmed was English: a Chinese turn starts from its own system prompt's state
    loaded: list[str] = []
    load_state = chat._llama.load_state

    def spy(state) -> None:
        loaded.append(chat._llama.detokenize(state.input_ids[: state.n_tokens].tolist()).decode("utf-8", "replace"))
        load_state(state)

    chat._llama.load_state = spy
    system = build_messages("社保卡丢了", "zh", engine.site, [])[0]
    list(chat.stream_chat([system, {"role": "user", "content": "社保卡丢了"}], max_tokens=4, temperature=0.0))
    assert len(loaded) == 1 and system["content"] in loaded[0]
    assert AnswerEngine(Retriever(demo_kb), site, Triage.load()).warm() is None  # no LLM: nothing to warm


def test_the_prompt_cache_keeps_one_row_of_logits_per_state_and_answers_the_same(tiny_gguf: Path) -> None:
    """llama-cpp-python's cache would keep every evaluated token's logits with each state
    (311 MB a state for Qwen2.5), uncounted: memory grew past 3 GB in the voice bench."""
    messages = [{"role": "system", "content": "你是社区的AI助手。"}, {"role": "user", "content": "社保卡丢了怎么办"}]
    lean = LlamaChatModel(tiny_gguf, "tiny", n_ctx=512, n_threads=2, seed=3)
    first = "".join(lean.stream_chat(messages, max_tokens=8, temperature=0.0))
    again = "".join(lean.stream_chat(messages, max_tokens=8, temperature=0.0))  # from the cached state
    states = list(lean._llama.cache.cache_state.values())
    assert states and all(state.scores.shape[0] == 1 for state in states)
    plain = LlamaChatModel(tiny_gguf, "tiny", n_ctx=512, n_threads=2, seed=3, prompt_cache_mb=0)
    assert first == again == "".join(plain.stream_chat(messages, max_tokens=8, temperature=0.0))


def test_embeddings_shape_norm_and_determinism(embedder: LlamaEmbedder) -> None:
    v = embedder.embed(["社保卡丢了怎么办", "老年卡在哪里办", "社保卡丢了怎么办"])
    assert v.shape == (3, embedder.dim) and embedder.dim == 64 and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(v[0], v[2]) and not np.allclose(v[0], v[1])
    assert embedder.embed([]).shape == (0, 64)


def test_hybrid_knowledge_base_with_a_real_embedder(tmp_path: Path, analyzer, embedder: LlamaEmbedder) -> None:
    from appliance.bootstrap import demo_kb_dir

    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    guides = sorted((demo_kb_dir() / "zh").glob("*.md"))[:6]
    report = Ingestor(kb, embedder).ingest(guides)
    assert not report.failed
    counts = kb.counts()
    assert kb.embedding_model == "tiny-embed"
    assert kb.conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0] == counts["sections"] + counts["questions"]
    r = Retriever(kb, embedder).search("社保卡丢了怎么补办")
    assert r.mode == "hybrid" and r.top is not None and r.timings_ms["vector"] > 0
    assert any(h.vector_sim is not None for res in r.results for h in res.hits)
    kb.close()


def test_engine_with_a_real_llm_falls_back_when_uncited(demo_kb, site, chat: LlamaChatModel) -> None:
    """A random tiny model cannot cite its sources, so its text must never be shown."""
    engine = AnswerEngine(Retriever(demo_kb), site, Triage.load(), llm=chat)
    shown: list[str] = []
    a = engine.ask("我社保卡掉了怎么办", on_text=shown.append)
    assert a.generator == "extractive" and a.reason in ("llm_uncited", "llm_unsupported_number")
    assert a.timings_ms["llm"] > 0 and "llm_first_token" in a.timings_ms  # the model did run
    assert shown == [a.answer] and "社会保障卡挂失与补办" in a.answer


def test_the_llm_is_loaded_by_default_only_where_a_gpu_takes_it(settings: Settings, tiny_gguf: Path) -> None:
    assert settings.llm.enabled == "auto"
    auto = settings.model_copy(update={"llm": settings.llm.model_copy(update={"path": tiny_gguf, "n_ctx": 1024})})
    llm, note = load_llm(auto, ModelStore(settings.models_path))
    assert (llm is not None) is gpu_offload()
    assert note is None if gpu_offload() else "not loaded: no GPU" in note
    assert load_llm(settings, ModelStore(settings.models_path)) == (None, None) or gpu_offload()  # not installed
    if not gpu_offload():  # this machine: a CPU build of llama.cpp
        on = auto.model_copy(update={"llm": auto.llm.model_copy(update={"enabled": True})})
        assert isinstance(load_llm(on, ModelStore(settings.models_path))[0], LlamaChatModel)


def test_loader_paths_and_messages(settings: Settings, tiny_gguf: Path) -> None:
    store = ModelStore(settings.models_path)
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"enabled": True})})
    llm, note = load_llm(settings, store)
    assert llm is None and "kiosk models pull qwen2.5-1.5b-instruct-q4_k_m" in note
    gguf = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"model": "bge-small-zh-v1.5-q8_0"})}
    )
    emb, note = load_embedder(gguf, store)
    assert emb is None and "kiosk models pull bge-small-zh-v1.5-q8_0" in note and "kiosk models import" in note
    s = settings.model_copy(update={"llm": settings.llm.model_copy(update={"path": tiny_gguf, "n_ctx": 1024})})
    llm, note = load_llm(s, store)
    assert note is None and isinstance(llm, LlamaChatModel)
    off = settings.model_copy(update={"llm": settings.llm.model_copy(update={"enabled": False})})
    assert load_llm(off, store) == (None, None)
    broken = tiny_gguf.parent / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    s = settings.model_copy(update={"llm": settings.llm.model_copy(update={"path": broken})})
    llm, note = load_llm(s, store)
    assert llm is None and "cannot load" in note
    with pytest.raises(ModelError, match="not found"):
        LlamaChatModel(tiny_gguf.parent / "absent.gguf", "x")


def test_the_context_window_is_never_wider_than_the_model_was_trained_for(tmp_path: Path) -> None:
    from models.llm import trained_context
    from models.tiny import write_tiny_llama_gguf

    path = write_tiny_llama_gguf(tmp_path / "short.gguf", n_ctx=512)
    assert trained_context(path) == 512
    assert LlamaChatModel(path, "short", n_ctx=4096, n_threads=1).n_ctx == 512
    assert LlamaChatModel(path, "short", n_ctx=256, n_threads=1).n_ctx == 256
