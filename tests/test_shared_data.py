"""The real Guangdong service-guide records from ../shared/data (skipped when absent)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from appliance.knowledge.ingest import Ingestor
from appliance.knowledge.retrieval import Retriever
from appliance.knowledge.store import KnowledgeBase


@pytest.fixture(scope="module")
def guangdong(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, analyzer):
    src = shared_data / "kb" / "guangdong_services.jsonl"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    folder = tmp_path_factory.mktemp("gd")
    copy = folder / src.name  # ingest a copy: ../shared is read-only and the source path is recorded
    shutil.copy(src, copy)
    kb = KnowledgeBase.open(folder / "kb.sqlite", analyzer)
    report = Ingestor(kb).ingest([copy])
    yield kb, report, [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()]
    kb.close()


def test_every_record_is_ingested_with_standard_sections(guangdong) -> None:
    kb, report, records = guangdong
    assert not report.failed and report.documents == len(records) == 2262
    rec = records[0]
    doc = kb.docs_by_id([rec["TASK_CODE"]])[rec["TASK_CODE"]]
    assert doc.title == rec["matter_name"]
    chunks = kb.doc_chunks(doc.doc_id)
    kinds = {c.kind for c in chunks}
    assert {"conditions", "materials", "place", "phone"} <= kinds
    assert any(rec["consult_phone"] in c.text for c in chunks if c.kind == "phone")


def test_real_guides_are_found_by_paraphrase(guangdong) -> None:
    kb, _, records = guangdong
    retriever = Retriever(kb)
    rng = random.Random(11)
    sample = rng.sample(records, 60)
    hits = 0
    for rec in sample:
        r = retriever.search(f"请问{rec['matter_name']}要带哪些材料", k=5)
        hits += any(res.doc.title == rec["matter_name"] for res in r.results)
    assert hits / len(sample) >= 0.9


def test_search_returns_the_material_section(guangdong) -> None:
    kb, _, records = guangdong
    rec = next(r for r in records if len(r.get("material_intro") or []) >= 2)
    r = Retriever(kb).search(f"{rec['matter_name']} {rec['material_intro'][0]}")
    assert r.top.doc.title == rec["matter_name"]
    assert r.top.section.kind in ("materials", "overview", "conditions")
