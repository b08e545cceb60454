"""`kiosk bench answers`: the figures, the plain BM25 baseline beside them, and the emergency lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appliance import bench_answers as ba
from appliance.answer.engine import policy_mode
from appliance.cli import app
from appliance.config import RetrievalSettings
from appliance.knowledge.evaluation import LabelledQuestion
from appliance.knowledge.retrieval import Retriever
from appliance.triage import Triage


def test_split_is_stable_and_about_half() -> None:
    keys = [f"GIP_{i}" for i in range(2000)]
    assert [ba.split_of(k) for k in keys] == [ba.split_of(k) for k in keys]
    assert 900 < sum(ba.split_of(k) == "dev" for k in keys) < 1100


def test_faq_datasets_share_one_kb_and_split_the_questions(tmp_path: Path) -> None:
    faq = tmp_path / "faq.jsonl"
    rows = [{"id": f"q{i}", "question": f"问题{i}", "answer": f"答案{i}。" * 5, "dept": f"d{i % 3}"} for i in range(40)]
    faq.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    dev, test = ba.faq_datasets(faq, "faq")
    assert dev.cache == test.cache and dev.key == "stem"
    assert len(dev.questions) + len(test.questions) == 40
    assert not {q.question for q in dev.questions} & {q.question for q in test.questions}
    long_dev, _ = ba.faq_datasets(faq, "faq-long", long=True)
    files = long_dev.build(tmp_path / "long")
    assert len(list(files[0].glob("*.txt"))) == 6  # three departments, eight answers to a document at most


FAQ_PAGE = """<html><head><title>Design FAQ</title></head><body>
<h1>Design and History FAQ</h1>
<h2>Why does Python use indentation for grouping of statements?<a class="headerlink">¶</a></h2>
<p>Guido van Rossum believes that using indentation for grouping is extremely elegant.</p>
<pre>if x:
    y()</pre>
<h2>Contents</h2><p>a table of contents that is no answer at all</p>
<h2>Why is it short?</h2><p>Too short.</p>
</body></html>"""


def test_the_python_faq_is_read_question_by_question(tmp_path: Path) -> None:
    (tmp_path / "faq").mkdir()
    (tmp_path / "faq" / "design.html").write_text(FAQ_PAGE, encoding="utf-8")
    (tmp_path / "faq" / "index.html").write_text("<h2>Why index?</h2><p>" + "x" * 100 + "</p>", encoding="utf-8")
    entries = ba.python_faq_entries(tmp_path / "faq")
    q = "Why does Python use indentation for grouping of statements?"
    assert list(entries) == [q]  # no "Contents", no answer under 80 characters, no index page
    assert entries[q].startswith("Guido van Rossum") and "if x:" in entries[q] and "Contents" not in entries[q]
    para = tmp_path / "para.jsonl"
    lines = [{"faq": q, "question": f"paraphrase {i} of the indentation question"} for i in range(2)]
    lines.append({"faq": "Why is there no such question?", "question": "gone"})
    para.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    sets, missing = ba.python_faq_datasets(tmp_path / "faq", para)
    assert missing == 1 and [d.name for d in sets] == ["python-faq-dev", "python-faq-test"]
    assert sum(len(d.questions) for d in sets) == 2 and len({q.expected for d in sets for q in d.questions}) == 1
    docs = list(sets[0].build(tmp_path / "w")[0].glob("*.txt"))
    assert len(docs) == 1 and docs[0].read_text(encoding="utf-8").startswith("Guido")
    shipped = ba.demo_kb_dir().parent / "eval" / "outside" / ba.PARAPHRASES
    assert len(shipped.read_text(encoding="utf-8").splitlines()) == 338


def test_evaluate_counts_the_policy_and_the_baseline(demo_kb) -> None:
    qs = [
        LabelledQuestion("社保卡丢了怎么补办", "社会保障卡挂失与补办"),
        LabelledQuestion("养狗要去哪里登记", "养犬登记"),
        LabelledQuestion("驾照换证要什么", None),
    ]
    ds = ba.Dataset("mini", "dev", lambda _w: [], qs)
    f = ba.evaluate(ds, demo_kb, RetrievalSettings(), None, ba.BM25Baseline(demo_kb))
    assert (f.n, f.n_out_of_scope) == (2, 1)
    assert f.hit_at_1 == 1.0 and f.bm25_hit_at_1 == 1.0 and f.oos_answered == 0.0
    assert f.answered + f.clarified + f.refused == 1.0
    assert [r["mode"] for r in f.rows][2] == "no_answer"
    assert policy_mode(Retriever(demo_kb).search("驾照换证要什么"), RetrievalSettings()) == "no_answer"


def test_triage_figures(analyzer) -> None:
    items = [("着火了", "fire"), ("楼下两个人拿着刀在砍", "violence"), ("社保卡怎么补", None), ("电梯多久保养", None)]
    e = ba.evaluate_triage("x", Triage.load(), analyzer, items)
    assert (e.n, e.n_ordinary, e.recall, e.false_alarms, e.right_category) == (2, 2, 1.0, 0.0, 1.0)
    rules = ba.evaluate_triage("x", Triage.load(), analyzer, [("家里有股怪味 头有点晕", "gas_leak")], rules_only=True)
    assert rules.recall == 0.0 and rules.missed == ["家里有股怪味 头有点晕"]


def test_bench_answers_prints_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = ba.load_emergency_questions
    # the first 100 lines of each held-out set: every reader's line is printed, in a quarter of the time
    monkeypatch.setattr(ba, "load_emergency_questions", lambda path: whole(path)[:100])
    r = CliRunner().invoke(
        app,
        [
            *("bench", "answers", "--shared", str(tmp_path / "none"), "--workdir", str(tmp_path / "w"), "--hybrid"),
            *("--python-faq", str(tmp_path / "no-faq"), "--split", "test"),
        ],
        env={"KIOSK_DATA_DIR": str(tmp_path / "data")},
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.stdout
    lines = r.stdout.splitlines()
    assert any("BM25 hit@1" in x for x in lines)
    assert not any(x.startswith("demo-dev") for x in lines)  # --split test
    for name in ("demo-test",):
        for mode in ("lexical", "hybrid"):
            row = next(x for x in lines if x.startswith(name) and mode in x.split()[1])
            hit1, bm25 = float(row.split()[3]), float(row.split()[14])
            assert 0.5 < hit1 <= 1 and 0.5 < bm25 <= 1
    assert "Taipei FAQ not found" in r.stderr or "Taipei FAQ not found" in r.stdout
    assert sum(x.strip().startswith("rules+detector") for x in lines) == len(ba.emergency_sets()) >= 2
    # with the embedding model, the pooled reader has its own line for each set
    assert sum(x.strip().startswith("rules+det+vec") for x in lines) == len(ba.emergency_sets())
    assert any(x.strip().startswith("rules only") for x in lines)
    for path in ba.emergency_sets():  # each held-out emergency set has its own lines
        assert any(x.startswith(f"emergencies ({path.name}:") for x in lines)


def test_held_out_emergency_sets_are_not_answerable_questions() -> None:
    test = next(ds for ds in ba.demo_datasets() if ds.name == "demo-test")
    emergencies = {q for p in ba.emergency_sets() for q, _ in ba.load_emergency_questions(p)}
    assert emergencies and not emergencies & {q.question for q in test.questions}


def test_the_confidence_fit_uses_development_questions_only(tmp_path: Path, analyzer) -> None:
    faq = tmp_path / "faq.jsonl"
    rows = [
        {
            "id": f"q{i}",
            "question": f"第{i}号窗口的{w}怎么办理",
            "answer": f"第{i}号窗口办理{w}，带身份证。",
            "dept": "d",
        }
        for i, w in enumerate(["护照", "签证", "驾照", "车检", "结婚", "离婚", "户口", "学籍"] * 3)
    ]
    faq.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    sets = [*ba.demo_datasets(), *ba.faq_datasets(faq, "taipei"), *ba.faq_datasets(faq, "taipei-long", long=True)]
    by_name = {d.name: d for d in sets}
    examples, labels = ba.calibration_examples(sets, analyzer, tmp_path / "w", None)
    demo, taipei = by_name["demo-dev"], by_name["taipei-dev"]
    cross = len(taipei.questions) + sum(1 for q in demo.questions if not q.expected)
    assert len(examples) == len(labels) == len(demo.questions) + 2 * len(taipei.questions) + cross
    assert set(labels) == {0, 1} and not any(labels[-cross:])  # another collection's questions: never right
    assert all(set(e) >= {"coverage", "evidence", "margin"} for e in examples)
    try:
        ba.calibration_examples([d for d in sets if d.name != "taipei-long-dev"], analyzer, tmp_path / "w", None)
    except ValueError as exc:
        assert "taipei-long-dev" in str(exc)
    else:
        raise AssertionError("fitting without a development set must fail")


def test_bench_answers_fit_names_what_is_missing(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        ["bench", "answers", "--fit", "--shared", str(tmp_path / "none"), "--workdir", str(tmp_path / "w")],
        env={"KIOSK_DATA_DIR": str(tmp_path / "data")},
    )
    assert r.exit_code != 0 and "taipei-dev" in (r.stdout + r.stderr)
