"""Cross-language search: an English question about a guide that exists only in Chinese, in a
knowledge base of guides in both languages (title evidence, the coverage weighting of weak matches
in the question's language, and the title vectors' cache)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from appliance.answer.engine import policy_mode
from appliance.config import RetrievalSettings
from appliance.knowledge.ingest import Ingestor, reindex
from appliance.knowledge.retrieval import FUSION, Fusion, Retriever, fuse
from appliance.knowledge.store import KnowledgeBase, text_sha256


class BilingualEmbedder:
    """A test embedder that reads a topic in either language: texts naming a dog, or an ID card,
    point along that topic's axis when it is a question or a title; a long passage reads as vague
    as any other (e5 crowds passages' similarities together; between titles and questions its
    cross-language similarity is clearer)."""

    name = "bilingual-test"
    dim = 4
    topics = {"犬": 0, "dog": 0, "puppy": 0, "证": 1, "card": 1}

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts, *, query=False):
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            sharp = query or len(t) < 24  # a question or a title; a long passage is vaguer
            for a in sorted({a for w, a in self.topics.items() if w in t.lower()}):
                out[i, a] = 1.0 if sharp else 0.0
            out[i, 3] = 0.2 if sharp else 1.0
            out[i] /= np.linalg.norm(out[i])
        return out


def _mixed_kb(tmp_path: Path, analyzer, embedder) -> KnowledgeBase:
    folder = tmp_path / "guides"
    folder.mkdir()
    (folder / "dog.md").write_text(
        "# 养犬登记\n\n## 办理地点\n明湖派出所，带犬只免疫证明和照片。这里写得很长很长很长很长很长。\n",
        encoding="utf-8",
    )
    (folder / "waste.md").write_text(
        "# 垃圾分类\n\n## 分类标准\n厨余垃圾投绿色桶，这里也写得很长很长很长。\n", encoding="utf-8"
    )
    (folder / "card.md").write_text(
        "# Replacing a Lost Card\n\n## Steps\nReport the card lost, then apply for a new card at the window; "
        "bring a photo.\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    assert not Ingestor(kb, embedder).ingest([folder]).failed
    return kb


def test_an_english_question_finds_the_chinese_only_guide(tmp_path: Path, analyzer) -> None:
    kb = _mixed_kb(tmp_path, analyzer, BilingualEmbedder())
    question = "I just got a puppy, do I need to register it and bring a photo?"  # "photo" is in the English guide
    without = Retriever(kb, BilingualEmbedder(), fusion=Fusion(title=0.0, coverage=0.0)).search(question)
    assert without.mode == "hybrid" and without.top.doc.title == "Replacing a Lost Card"
    found = Retriever(kb, BilingualEmbedder()).search(question)
    assert found.top.doc.title == "养犬登记" and found.top.doc.lang == "zh"
    # a question about the English guide still finds it
    assert Retriever(kb, BilingualEmbedder()).search("I lost my card, how do I get a new card?").top.doc.lang == "en"
    # and Chinese questions, the knowledge base's majority language, are ranked as before
    r = Retriever(kb, BilingualEmbedder()).search("养狗要去哪里登记")
    assert r.top.doc.title == "养犬登记"
    kb.close()


def test_title_evidence_is_pooled_only_for_the_other_language() -> None:
    fused = fuse(
        {"en1": 10.0},
        {"en1": 5.0},
        {},
        {"en1": 0.9, "zh1": 0.8, "zh2": 0.7},
        frozenset(),
        Fusion(title=2.0),
        other_language=frozenset({"zh1", "zh2"}),
        title={"en1": 0.5, "zh1": 0.6, "zh2": 0.9},
    )
    # zh: (2 * vector min-max + 2 * title min-max) / 4; en1 keeps its own mean (title not used)
    assert fused["zh1"] == pytest.approx((2 * 0.5 + 2 * 0.25) / 4)
    assert fused["zh2"] == pytest.approx((2 * 0.0 + 2 * 1.0) / 4)
    assert fused["en1"] == pytest.approx((1 + 1 + 2 * 1.0) / 4)
    assert FUSION.title > 0 and FUSION.coverage > 0


def test_title_vectors_are_cached_and_reindex_makes_them(tmp_path: Path, analyzer) -> None:
    embedder = BilingualEmbedder()
    kb = _mixed_kb(tmp_path, analyzer, embedder)
    titles = ["养犬登记", "垃圾分类", "Replacing a Lost Card"]
    assert not kb.cached_vectors(embedder.name, titles)  # ingest embeds sections, not titles
    Retriever(kb, embedder).search("where do I register my dog?")
    assert len(kb.cached_vectors(embedder.name, titles)) == 3  # embedded once, at the first search
    embedder.texts.clear()
    Retriever(kb, embedder).search("where do I register my dog?")
    assert not set(titles) & set(embedder.texts)  # from the cache
    with kb.conn:
        kb.conn.execute("DELETE FROM vector_cache WHERE sha256 IN (?, ?, ?)", tuple(text_sha256(t) for t in titles))
    reindex(kb, embedder)
    assert len(kb.cached_vectors(embedder.name, titles)) == 3
    kb.close()


def test_a_guide_found_across_languages_is_offered_not_refused(tmp_path: Path, analyzer) -> None:
    kb = _mixed_kb(tmp_path, analyzer, BilingualEmbedder())
    found = Retriever(kb, BilingualEmbedder()).search("I just got a puppy, do I need to register it?")
    unsure = dataclasses.replace(found, confidence=0.01)  # no English word can confirm a Chinese guide
    settings = RetrievalSettings()
    assert found.top.doc.lang == "zh" and policy_mode(unsure, settings) == "clarify"
    assert policy_mode(dataclasses.replace(unsure, mode="lexical"), settings) == "no_answer"
    same = Retriever(kb, BilingualEmbedder()).search("I lost my card, how do I get a new card?")
    assert policy_mode(dataclasses.replace(same, confidence=0.01), settings) == "no_answer"
    kb.close()
