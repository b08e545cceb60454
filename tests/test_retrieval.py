"""Retrieval quality on held-out questions, normalisation, and hybrid fusion with vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.knowledge.ingest import Ingestor, reindex
from appliance.knowledge.retrieval import Retriever, fts_match_expression
from appliance.knowledge.store import KnowledgeBase, KnowledgeBaseError
from tests.data_questions import ANSWERABLE, OUT_OF_SCOPE


def test_the_readme_question(demo_kb: KnowledgeBase) -> None:
    r = Retriever(demo_kb).search("我社保卡掉了怎么办")
    assert r.top.doc.title == "社会保障卡挂失与补办"
    assert r.confidence > 0.8
    assert not r.top.section.is_question  # the reported section is content, not a sample question


@pytest.mark.parametrize("variant", ["我的社保卡掉了，怎麼辦？", "社保卡丟了怎麼辦", "ＳＯＳ我社保卡掉了　怎么办"])
def test_traditional_full_width_and_spacing(demo_kb: KnowledgeBase, variant: str) -> None:
    assert Retriever(demo_kb).search(variant).top.doc.title == "社会保障卡挂失与补办"


def test_colloquial_synonyms(demo_kb: KnowledgeBase) -> None:
    r = Retriever(demo_kb).search("经适房")
    assert "共有产权保障住房" in r.expansions
    assert r.top.doc.title == "共有产权保障住房申请"


def test_held_out_questions(demo_kb: KnowledgeBase) -> None:
    """Questions that are not in any guide's sample questions: a regression guard on quality."""
    retriever = Retriever(demo_kb)
    hits, answered, answered_right = 0, 0, 0
    for question, title in ANSWERABLE:
        r = retriever.search(question)
        right = r.top is not None and r.top.doc.title == title
        hits += right
        if r.confidence >= 0.5:
            answered += 1
            answered_right += right
    n = len(ANSWERABLE)
    assert hits / n >= 0.85
    assert answered / n >= 0.8
    assert answered_right / answered >= 0.85
    false_answers = sum(retriever.search(q).confidence >= 0.5 for q in OUT_OF_SCOPE)
    assert false_answers / len(OUT_OF_SCOPE) <= 0.25


def test_english_question_finds_english_guide(demo_kb: KnowledgeBase) -> None:
    r = Retriever(demo_kb).search("I lost my social security card, what do I do?")
    assert r.top.doc.title == "Replacing a Lost Social Security Card" and r.top.doc.lang == "en"


def test_nothing_to_search(demo_kb: KnowledgeBase) -> None:
    r = Retriever(demo_kb).search("啊？")
    assert r.results == [] and r.confidence == 0.0


def test_fts_expression_quotes_terms() -> None:
    assert fts_match_expression(['a"b', "社保"]) == '"a""b" OR "社保"'


class TopicEmbedder:
    """A test embedder: texts mentioning a topic word point along that topic's axis."""

    name = "topic-test"
    dim = 8
    topics = {"犬": 0, "狗": 0, "毛孩子": 0, "汪星人": 0, "垃圾": 1, "电梯": 2}

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts, *, query=False):
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            hits = [axis for word, axis in self.topics.items() if word in t]
            out[i, hits[0] if hits else 7] = 1.0
            out[i, 6] = 0.1
            out[i] /= np.linalg.norm(out[i])
        return out


def _mini_kb(folder: Path, analyzer, embedder) -> KnowledgeBase:
    folder.mkdir()
    (folder / "dog.md").write_text("# 养犬登记\n\n## 办理地点\n明湖派出所，带犬只免疫证明\n", encoding="utf-8")
    (folder / "repair.md").write_text("# 物业报修\n\n## 报修范围\n楼道灯损坏、装修报备\n", encoding="utf-8")
    (folder / "waste.md").write_text("# 垃圾分类\n\n## 分类标准\n厨余垃圾投绿色桶\n", encoding="utf-8")
    kb = KnowledgeBase.open(folder / "kb.sqlite", analyzer)
    assert not Ingestor(kb, embedder).ingest([folder]).failed
    return kb


def test_hybrid_fusion_finds_what_words_miss(tmp_path: Path, analyzer) -> None:
    kb = _mini_kb(tmp_path / "kb", analyzer, TopicEmbedder())
    assert kb.has_vectors and kb.embedding_model == "topic-test"
    query = "家里的汪星人要去哪报备"  # no word of the dog guide; "报备" is in the repair guide
    lexical = Retriever(kb).search(query)
    hybrid = Retriever(kb, TopicEmbedder()).search(query)
    assert lexical.mode == "lexical" and hybrid.mode == "hybrid"
    assert "养犬登记" not in [r.doc.title for r in lexical.results]
    titles = [r.doc.title for r in hybrid.results]
    assert titles[:2] == ["物业报修", "养犬登记"] or titles[:2] == ["养犬登记", "物业报修"]
    dog = hybrid.results[titles.index("养犬登记")]
    assert dog.bm25 == 0 and dog.vector_sim > 0.9 and dog.section.heading_path[-1] == "办理地点"
    # with no word matching at all, the vector ranking alone decides
    only_vector = Retriever(kb, TopicEmbedder()).search("毛孩子")
    assert only_vector.top.doc.title == "养犬登记" and "vector_sim" in only_vector.features
    kb.close()


def test_vectors_of_another_model_are_not_used(tmp_path: Path, analyzer) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    (tmp_path / "g.md").write_text("# 养犬登记\n\n## 办理地点\n派出所\n", encoding="utf-8")
    Ingestor(kb, TopicEmbedder()).ingest([tmp_path / "g.md"])

    class Other(TopicEmbedder):
        name = "other-model"

    assert Retriever(kb, Other()).mode == "lexical"  # never mix embeddings of two models
    (tmp_path / "h.md").write_text("# 电梯\n\n## 求助电话\n物业\n", encoding="utf-8")
    [outcome] = Ingestor(kb, Other()).ingest([tmp_path / "h.md"]).outcomes
    assert outcome.status == "failed" and "kiosk kb reindex" in outcome.reason
    kb.close()


def test_unembedded_chunks_keep_search_lexical_until_reindex(tmp_path: Path, analyzer) -> None:
    """A file ingested without the model is stored; search stays lexical (nothing is ranked by
    half the vectors) until reindex embeds just the missing chunks, and a running retriever then
    turns hybrid by itself."""
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    (tmp_path / "g.md").write_text("# 养犬登记\n\n## 办理地点\n派出所\n", encoding="utf-8")
    model = TopicEmbedder()
    Ingestor(kb, model).ingest([tmp_path / "g.md"])
    running = Retriever(kb, model)
    assert running.mode == "hybrid"
    (tmp_path / "h.md").write_text("# 电梯\n\n## 求助电话\n物业\n", encoding="utf-8")
    [outcome] = Ingestor(kb, None).ingest([tmp_path / "h.md"]).outcomes
    assert outcome.status == "added"
    assert kb.vector_counts() == (1, 2) and not kb.vectors_complete()
    assert running.search("电梯").mode == "lexical" and Retriever(kb, model).mode == "lexical"
    model.calls.clear()
    report = reindex(kb, model)
    assert (report.embedded, report.reused, report.total) == (1, 0, 2) and model.calls == [1]
    assert running.search("电梯").mode == "hybrid"
    kb.close()


def test_reingest_embeds_only_changed_text(tmp_path: Path, analyzer) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    guide = folder / "dog.md"
    guide.write_text("# 养犬登记\n\n## 办理地点\n明湖派出所\n\n## 所需材料\n犬只免疫证明\n", encoding="utf-8")
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    model = TopicEmbedder()
    Ingestor(kb, model).ingest([folder])
    assert sum(model.calls) == 2
    model.calls.clear()
    guide.write_text("# 养犬登记\n\n## 办理地点\n明湖派出所\n\n## 所需材料\n犬只免疫证明、照片\n", encoding="utf-8")
    [outcome] = Ingestor(kb, model).ingest([folder]).outcomes
    assert outcome.status == "updated" and sum(model.calls) == 1  # the unchanged section came from the cache
    assert kb.vectors_complete()
    kb.drop_vectors()
    model.calls.clear()
    report = reindex(kb, model)  # everything is in the cache: nothing is embedded again
    assert (report.embedded, report.reused) == (0, 2) and model.calls == []
    assert Retriever(kb, model).mode == "hybrid"
    kb.close()


def test_reindex_adds_and_replaces_vectors(demo_kb: KnowledgeBase) -> None:
    assert not demo_kb.has_vectors
    report = reindex(demo_kb, TopicEmbedder())
    counts = demo_kb.counts()
    assert report.embedded == counts["sections"] + counts["questions"] == report.total
    assert demo_kb.has_vectors and Retriever(demo_kb, TopicEmbedder()).mode == "hybrid"
    assert demo_kb.conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0] == report.total
    with demo_kb.conn:
        demo_kb.set_meta("calibration_hybrid", '{"features": [], "weights": [], "bias": 9}')

    class Other(TopicEmbedder):
        name = "other-model"

    reindex(demo_kb, Other())
    assert demo_kb.meta("calibration_hybrid") is None  # a fit to the old vectors does not survive them
    assert demo_kb.embedding_model == "other-model" and demo_kb.vectors_complete()
    reindex(demo_kb, None)
    assert not demo_kb.has_vectors


def test_schema_mismatch_is_refused(tmp_path: Path, analyzer) -> None:
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    with kb.conn:
        kb.set_meta("schema_version", "999")
    kb.close()
    with pytest.raises(KnowledgeBaseError, match="schema"):
        KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)


def test_schema_1_file_is_upgraded_and_indexed(demo_kb_file: Path, tmp_path: Path, analyzer) -> None:
    """A knowledge base written before whole-document BM25 (schema 1) is upgraded in place when
    opened: the new tables are added and filled from the stored text, nothing re-read from files."""
    import shutil
    import sqlite3

    path = tmp_path / "old.sqlite"
    shutil.copy(demo_kb_file, path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE docs_fts")
        conn.execute("DROP TABLE vector_cache")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("DELETE FROM meta WHERE key = 'analyzer_version'")
    conn.close()
    kb = KnowledgeBase.open(path, analyzer)
    assert kb.meta("schema_version") == "2" and kb.meta("analyzer_version") is not None
    n_docs = kb.conn.execute("SELECT count(*) FROM docs_fts").fetchone()[0]
    assert n_docs == kb.counts()["documents"]
    assert Retriever(kb).search("经适房怎么申请").top.doc.title == "共有产权保障住房申请"
    kb.close()


def test_a_new_analyzer_version_rebuilds_the_lexical_index(demo_kb: KnowledgeBase, analyzer) -> None:
    with demo_kb.conn:
        demo_kb.set_meta("analyzer_version", "0")
        demo_kb.conn.execute("DELETE FROM chunks_fts")  # as if indexed with other tokens
    path = demo_kb.db.path
    demo_kb.close()
    kb = KnowledgeBase.open(path, analyzer)
    assert kb.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] == sum(kb.vector_counts()[1:])
    assert Retriever(kb).search("我社保卡掉了怎么办").top.doc.title == "社会保障卡挂失与补办"
    kb.close()


def test_english_stems_meet(demo_kb: KnowledgeBase) -> None:
    """ "sorting" and "sorted" find "sort"; "vaccinations" finds "vaccination"."""
    r = Retriever(demo_kb)
    assert r.search("How is household rubbish sorted?").top.doc.title == "Household Waste Sorting"
    assert r.search("free vaccinations for older residents").top.doc.title == "Free Flu Vaccination for Older Residents"


def test_one_line_text_file_is_a_document(tmp_path: Path, analyzer) -> None:
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "a.txt").write_text("社区图书室每周二至周日开放，周一闭馆。", encoding="utf-8")
    (folder / "b.txt").write_text("健身房需要先在前台登记，凭居民卡免费使用。\n", encoding="utf-8")
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    report = Ingestor(kb).ingest([folder])
    assert report.count("added") == 2 and not report.failed
    assert Retriever(kb).search("图书室周一开门吗").top.doc.source.endswith("a.txt")
    kb.close()


def test_fusion_is_a_mean_over_the_evidence_a_document_can_have() -> None:
    from appliance.knowledge.retrieval import Fusion, fuse

    w = Fusion(document=1, section=1, question=1, vector=2)
    doc = {"with_q": 10.0, "without_q": 10.0}
    sec = {"with_q": 4.0, "without_q": 4.0}
    que = {"with_q": 2.0}
    scores = fuse(doc, sec, que, None, {"with_q"}, w)
    # no sample question to match is not evidence against a guide: both are best in what they have
    assert scores["without_q"] == pytest.approx(1.0) and scores["with_q"] == pytest.approx(1.0)
    scores = fuse({"a": 5.0, "b": 10.0}, {}, {}, {"a": 0.9, "b": 0.8, "c": 0.85}, frozenset(), w)
    # vectors rescaled between the worst and the best candidate: a (1.0) b (0.0) c (0.5)
    assert scores["a"] == pytest.approx((0.5 + 2 * 1.0) / 4) and scores["b"] == pytest.approx(1.0 / 4)
    assert scores["c"] == pytest.approx(2 * 0.5 / 4)
    across = fuse({"a": 5.0}, {}, {}, {"a": 0.8, "zh": 0.9}, frozenset(), w, other_language={"zh"})
    assert across["zh"] == pytest.approx(1.0)  # another language: its vector evidence alone


def test_the_shipped_demo_vectors_cover_the_demo(demo_kb: KnowledgeBase) -> None:
    """The release carries the demo's multilingual-e5-small vectors (`python -m appliance.demo_vectors`
    rewrites them after the demo changes): every chunk and title of the shipped demo is in them."""
    from appliance import demo_vectors
    from appliance.knowledge.store import text_sha256

    shipped = demo_vectors.load_shipped("multilingual-e5-small-q4")
    texts = [t for _, t in demo_kb.all_chunk_texts()] + [d.title for d in demo_kb.documents()]  # titles too
    missing = [t[:40] for t in texts if text_sha256(t) not in shipped]
    assert not missing, f"stale demo vectors: run python -m appliance.demo_vectors ({missing[:3]})"
    assert {v.shape for v in shipped.values()} == {(384,)}


def test_the_demo_is_hybrid_from_its_first_question(settings, tmp_path: Path) -> None:
    """With the default embedding model installed, a new device builds the demo with its shipped
    vectors: no chunk is embedded, the first question is searched hybrid and an English question
    finds a Chinese-only guide."""
    from appliance.bootstrap import build_appliance

    with build_appliance(settings, use_llm=False, journal=False) as appliance:
        retriever = appliance.engine.retriever
        assert retriever.mode == "hybrid" and appliance.kb.vectors_complete()
        r = retriever.search("How do I register my newborn baby?")
        assert r.top.doc.title == "新生儿出生登记与落户"


def test_vectors_scanned_in_memory_rank_as_sqlite_vec_does_and_follow_changes(tmp_path: Path, analyzer) -> None:
    from appliance.bench import HashingEmbedder, demo_queries, write_synthetic_guides

    folder = tmp_path / "guides"
    write_synthetic_guides(folder, 300, None)
    model = HashingEmbedder(64)
    kb = KnowledgeBase.open(tmp_path / "kb.sqlite", analyzer)
    assert not Ingestor(kb, model).ingest([folder]).failed
    memory = Retriever(kb, model, candidates=20)
    vec0 = Retriever(kb, model, candidates=20, vector_memory_mb=0)
    small = Retriever(kb, model, candidates=20, vector_memory_mb=0.01)  # 300 x 64 x 4 bytes do not fit
    for question in demo_queries()[:25]:
        a, b, c = memory.search(question), vec0.search(question), small.search(question)
        assert a.mode == b.mode == "hybrid"
        assert (
            [r.doc.doc_id for r in a.results] == [r.doc.doc_id for r in b.results] == [r.doc.doc_id for r in c.results]
        )
        for x, y in zip(a.results, b.results, strict=True):
            assert x.vector_sim == pytest.approx(y.vector_sim, abs=1e-5) and x.score == pytest.approx(y.score, abs=1e-5)
    assert (memory.vector_scan, vec0.vector_scan, small.vector_scan) == ("memory", "vec0", "vec0")
    # a guide added afterwards is found by the copy in memory without a restart
    (folder / "new.md").write_text("# 老旧小区加装电梯\n\n## 申请条件\n全体业主同意，加装电梯补贴\n", encoding="utf-8")
    assert not Ingestor(kb, model).ingest([folder]).failed
    found = memory.search("加装电梯补贴")
    assert found.top.doc.title == "老旧小区加装电梯" and found.top.vector_sim == pytest.approx(
        vec0.search("加装电梯补贴").top.vector_sim, abs=1e-5
    )
    kb.close()
