"""Residents' privacy: redaction (a table of written forms), the journal's file modes, retention
and purge, and control characters on the staff's terminal."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import unicodedata
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from stdnum.cn import ric
from typer.testing import CliRunner

from appliance.answer.types import Answer
from appliance.cli import app
from appliance.cli.common import safe_text
from appliance.journal import PURGED_TABLES, RESIDENT_TABLES, Journal
from appliance.privacy import PLACEHOLDERS, Redactor, callback_number, published_numbers

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "pii_cases.jsonl").open(encoding="utf-8")]
#: A number a guide publishes (published_numbers keeps it); the example site's are added below.
GUIDE = "民政窗口电话：010-8888-6666（工作日）"
#: (mode, reason) of one answer per resident-text table besides turns.
MODES = (("handoff", "complaint"), ("no_answer", "low_confidence"), ("clarify", "clarify"), ("emergency", "fire"))


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    from appliance.site import example_site_file, load_site

    site = load_site(example_site_file())
    keep = [site.duty_phone, site.property_hotline, *(v for v in site.emergency.model_dump().values() if v)]
    return Redactor([*keep, *published_numbers([GUIDE])])


# -- the table of cases ------------------------------------------------------------------------


def test_the_table_has_at_least_100_cases_each_way() -> None:
    positive = [c for c in CASES if c["want"] != c["text"]]
    negative = [c for c in CASES if c["want"] == c["text"]]
    assert len(positive) >= 100 and len(negative) >= 100
    assert all(c["kind"].startswith("not-") for c in negative)
    assert {c["kind"] for c in positive} == {*PLACEHOLDERS, "mixed"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['kind']}-{n}" for n, c in enumerate(CASES)])
def test_redaction_table(redactor: Redactor, case: dict[str, str]) -> None:
    assert redactor(case["text"]) == case["want"]


def test_redacting_twice_changes_nothing_more(redactor: Redactor) -> None:
    for case in CASES:
        assert redactor(case["want"]) == case["want"], case


def test_findings_point_into_the_original_text(redactor: Redactor) -> None:
    text = "手机：１３８－１２３４－５６７８，邮箱 ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ，住三号楼二单元五〇一室"
    found = redactor.find(text)
    assert [(text[f.start : f.end], f.kind) for f in found] == [
        ("１３８－１２３４－５６７８", "mobile"),
        ("ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email"),
        ("三号楼二单元五〇一室", "address"),
    ]


def test_a_published_number_is_kept_in_every_written_form() -> None:
    r = Redactor(["010-6234-5678"])
    for same in (
        "(010)62345678",
        "+86 10 6234 5678",
        "62345678",
        "０１０－６２３４－５６７８",
        "零幺零六二三四五六七八",
        "电话010 6234 5678",
    ):
        assert r(same) == same, same
    assert r("010-6234-5679") == "〔电话〕"
    assert published_numbers(["咨询电话 010-8888-6666，传真 (021) 8765-4321"]) >= {
        "01088886666",
        "88886666",
        "02187654321",
    }


def test_odd_input_never_raises() -> None:
    r = Redactor([None, "", "没有数字"])  # empty and digitless keep entries are ignored
    for text in ("", " ", "\ud800", "\x00\x1b[2J", "〔手机号〕" * 3, "1" * 5000, "我是" * 3000, "@" * 1000):
        assert isinstance(r(text), str)


# -- properties: a resident's number is never kept, whatever surrounds it -------------------------

# Text around a number: no digits (ASCII, full-width, Chinese numerals) that would lengthen it.
_AROUND = st.text(
    alphabet=st.sampled_from(list("我的手机号是电话请打给谢谢身份证卡丢了，。！？ abcXYZ-+()：:@#¥")), max_size=12
)
_SEP = st.sampled_from(["", " ", "-", ".", "  "])


@st.composite
def mobiles(draw) -> tuple[str, str]:
    digits = (
        "1"
        + draw(st.sampled_from("3456789"))
        + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    )
    sep = draw(_SEP)
    written = sep.join([digits[:3], digits[3:7], digits[7:]])
    if draw(st.booleans()):
        written = written.translate(str.maketrans("0123456789", "〇一二三四五六七八九"))
    elif draw(st.booleans()):
        written = unicodedata.normalize("NFKC", written).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return digits, written


@st.composite
def id_numbers(draw) -> tuple[str, str]:
    region = draw(st.sampled_from(["110101", "310115", "440304", "510107", "650102"]))
    born = draw(st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2020, 12, 31))).strftime("%Y%m%d")
    body = region + born + draw(st.from_regex(r"\A[0-9]{3}\Z"))
    number = body + ric.calc_check_digit(body + "0")
    sep = draw(_SEP.filter(lambda s: "." not in s))
    return number, sep.join([number[:6], number[6:14], number[14:]])


@settings(max_examples=300, deadline=None)
@given(before=_AROUND, number=mobiles(), after=_AROUND)
def test_a_mobile_never_survives(before: str, number: tuple[str, str], after: str) -> None:
    digits, written = number
    out = Redactor()(before + written + after)
    assert written not in out and "〔手机号〕" in out


@settings(max_examples=300, deadline=None)
@given(before=_AROUND, number=id_numbers(), after=_AROUND)
def test_an_id_number_never_survives(before: str, number: tuple[str, str], after: str) -> None:
    digits, written = number
    out = Redactor()(before + written + after)
    assert digits[6:14] not in out.replace(" ", "").replace("-", "") and "〔身份证号〕" in out


# -- a callback number: kept only when the resident gives it for that purpose ---------------------

#: (what the resident said, the number kept for a callback).
CALLBACKS = [
    ("我要投诉物业，麻烦回电13812345678", "13812345678"),
    ("请回电话13812345678", "13812345678"),
    ("请给我回个电话，138 1234 5678", "13812345678"),
    ("麻烦回电，我的手机号是13812345678", "13812345678"),
    ("打给我：139-8765-4321", "13987654321"),
    ("你们可以打我电话 +86 138 1234 5678", "13812345678"),
    ("有结果请联系我，电话021-87654321", "02187654321"),
    ("请工作人员给我打电话 (010)62345678", "01062345678"),
    ("请打电话给我13812345678", "13812345678"),
    ("这事请电话联系 13812345678", "13812345678"),
    ("我留个电话：一三八一二三四五六七八", "13812345678"),
    ("打给我幺三九八七六五四三二一", "13987654321"),
    ("联系我的电话是０２１－８７６５４３２１", "02187654321"),
    ("请回复我，手机13812345678", "13812345678"),
    ("能不能给我回个电话，13812345678", "13812345678"),
    ("我的电话是13812345678，请回电", "13812345678"),
    ("13812345678，麻烦给我回个电话", "13812345678"),
    ("我的电话是13812345678。请工作人员联系我", "13812345678"),
    ("请回电。我的电话是13812345678", "13812345678"),
    ("Please call me back on 13812345678", "13812345678"),
    ("You can call me on +86 21 8765 4321", "02187654321"),
    ("Reach me at 138-1234-5678", "13812345678"),
    ("My number is 13812345678, please call", "13812345678"),
    ("my number is 62345678, please call me back", "62345678"),
]
#: A number said without a callback cue, someone else's number, or a cue that is denied.
NOT_CALLBACKS = [
    "我手机13812345678丢了",
    "我的电话13812345678被人盗用了",
    "我要投诉物业，我叫王建国，电话13812345678",
    "我的电话是13812345678，请尽快处理",  # a request, but not to call
    "13812345678是我的手机号，帮我查一下话费",
    "我儿子的电话13812345678打不通",
    "请联系我儿子13812345678",  # someone else's number
    "对方电话13812345678，请联系他",
    "13812345678这个号码老给我打电话",
    "有人用13812345678给我打电话骚扰我",
    "13812345678这个号码骚扰我，请给我回电",
    "请回电。13812345678这个号码骚扰我",
    "给我打电话的是13812345678",  # the caller
    "骗子打给我的号码是13812345678",
    "他老是打我电话，号码是13812345678",
    "别再给我打电话了，13812345678",
    "不要打我电话13812345678",
    "物业一直不给我回电，他们的电话是13812345678",
    "麻烦回电，我的身份证号11010119900307123X",  # not a phone number
    "回电话1381234567",  # a mobile missing a digit: no one can call it
    "麻烦回电",
    "someone keeps calling me from 13812345678",
    "please don't call me on 13812345678",
    "he called me on 13812345678 last night",
    "my phone 13812345678 was stolen",
]


def test_the_callback_table_has_at_least_15_cases_each_way() -> None:
    assert len(CALLBACKS) >= 15 and len(NOT_CALLBACKS) >= 15
    assert all(Redactor().find(text) for text, _ in CALLBACKS)  # each number is redacted too


@pytest.mark.parametrize(("text", "number"), CALLBACKS)
def test_a_number_given_for_a_callback_is_found(text: str, number: str) -> None:
    assert callback_number(text) == number
    assert Redactor().callback_number(text) == number


@pytest.mark.parametrize("text", NOT_CALLBACKS)
def test_a_number_not_given_for_a_callback_is_not_kept(text: str) -> None:
    assert callback_number(text) is None


def test_a_published_number_is_never_a_callback_number() -> None:
    assert callback_number("麻烦回电010-8888-6666") == "01088886666"
    assert Redactor(published_numbers([GUIDE])).callback_number("麻烦回电010-8888-6666") is None
    r = Redactor([None, "", "没有数字"])
    for text in ("", " ", "\ud800", "\x00\x1b[2J", "回电" * 3000, "回电" + "1" * 5000, "〔手机号〕请回电"):
        assert r.callback_number(text) is None


# -- the journal: what is written, file modes, retention ------------------------------------------


def _answer(question: str, mode: str = "answer", reason: str | None = None, generator: str = "extractive") -> Answer:
    return Answer(
        question, "回答 13812345678" if generator == "llm" else "请到一楼窗口办理。", mode, generator, reason=reason
    )


def test_handoffs_gaps_clarifications_and_alerts_are_redacted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite", Redactor())
    q = "我叫王建国，住3号楼2单元501，手机13812345678"
    for mode, reason in MODES:
        journal.record(_answer(q, mode, reason))
    journal.record(_answer(q, generator="llm"))
    want = "我叫〔姓名〕，住〔住址〕，手机〔手机号〕"
    for table in RESIDENT_TABLES:
        if table != "alerts":
            assert {r["question"] for r in journal.rows(table)} == {want}, table
    # an emergency alert keeps where the emergency is, for the duty worker; nothing else
    assert {r["question"] for r in journal.rows("alerts")} == {"我叫〔姓名〕，住3号楼2单元501，手机〔手机号〕"}
    answers = [r["answer"] for r in journal.rows("turns")]
    assert answers[0] == "回答 〔手机号〕" and answers[1] == "请到一楼窗口办理。"  # LLM answers only
    journal.close()


def test_a_handoff_keeps_only_the_number_given_for_a_callback(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite", Redactor())
    journal.record(_answer("我要投诉物业，麻烦回电13812345678", "handoff", "complaint"))
    journal.record(_answer("我要投诉物业，我的电话13912345678丢了", "handoff", "complaint"))
    journal.record(_answer("社保卡丢了，麻烦回电13712345678"))  # not a handoff: no one calls back
    no_cue, given = journal.rows("handoffs")
    assert (given["question"], given["callback"]) == ("我要投诉物业，麻烦回电〔手机号〕", "13812345678")
    assert (no_cue["question"], no_cue["callback"]) == ("我要投诉物业，我的电话〔手机号〕丢了", None)
    for table in RESIDENT_TABLES:  # the number is nowhere else
        for row in journal.rows(table):
            others = [v for k, v in row.items() if not (table == "handoffs" and k == "callback")]
            assert not any(n in str(v) for v in others for n in ("13812345678", "13912345678", "13712345678"))
    assert journal.close_handoff(given["id"])  # staff have called back: the number is forgotten
    assert [r["callback"] for r in journal.rows("handoffs")] == [None, None]
    journal.purge(0)  # retention deletes it with its handoff
    assert journal.rows("handoffs") == []
    journal.close()


#: The handoffs table as journals wrote it before the callback column.
OLD_HANDOFFS = """
CREATE TABLE turns (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, question TEXT NOT NULL, lang TEXT NOT NULL,
    mode TEXT NOT NULL, generator TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL, confidence REAL,
    reason TEXT, timings TEXT NOT NULL, kb_version INTEGER);
CREATE TABLE handoffs (id INTEGER PRIMARY KEY, turn_id INTEGER REFERENCES turns(id), ts TEXT NOT NULL,
    question TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open');
INSERT INTO handoffs (ts, question, reason) VALUES ('2026-01-05T09:00:00.000+00:00', '我要投诉', 'complaint');
"""


def test_an_old_journal_gets_the_callback_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_HANDOFFS)
    conn.close()
    journal = Journal(path, Redactor())
    [old] = journal.rows("handoffs")
    assert (old["question"], old["callback"]) == ("我要投诉", None)
    journal.record(_answer("我要投诉物业，麻烦回电13812345678", "handoff", "complaint"))
    assert journal.rows("handoffs")[0]["callback"] == "13812345678"
    journal.close()
    journal = Journal(path, Redactor())  # opening it again changes nothing
    assert [r["callback"] for r in journal.rows("handoffs")] == ["13812345678", None]
    journal.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journal_is_private_to_the_kiosk_user(tmp_path: Path) -> None:
    path = tmp_path / "data" / "journal.sqlite"
    journal = Journal(path)
    journal.record(_answer("居住证怎么办"))
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600
    for companion in ("-wal", "-shm"):
        assert _mode(path.with_name(path.name + companion)) == 0o600, companion
    journal.close()


def test_an_existing_loose_journal_is_tightened_when_opened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    Journal(folder / "journal.sqlite").close()
    os.chmod(folder, 0o755)
    os.chmod(folder / "journal.sqlite", 0o644)
    Journal(folder / "journal.sqlite").close()
    assert _mode(folder) == 0o700 and _mode(folder / "journal.sqlite") == 0o600


def test_a_shared_sticky_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    Journal(shared / "journal.sqlite").close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777 and _mode(shared / "journal.sqlite") == 0o600


def _age(journal: Journal, days: float) -> None:
    """Make every row ``days`` days old."""
    ts = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="milliseconds")
    with journal.conn:
        for table in RESIDENT_TABLES:
            journal.conn.execute(f"UPDATE {table} SET ts = ?", (ts,))


def _fill(journal: Journal) -> None:
    for mode, reason in MODES:
        journal.record(_answer("问题", mode, reason))


def test_retention_deletes_old_rows_when_the_journal_opens(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    _fill(journal)
    _age(journal, 91)
    _fill(journal)  # new rows
    journal.close()
    journal = Journal(path, retention_days=90)
    counts = {t: len(journal.rows(t, 100)) for t in RESIDENT_TABLES}
    assert counts == {"handoffs": 1, "gaps": 1, "clarifications": 1, "alerts": 1, "turns": 4}
    assert journal.purge(90) == dict.fromkeys(PURGED_TABLES, 0)
    assert journal.purge(0) == {"outbox": 0, "handoffs": 1, "gaps": 1, "clarifications": 1, "alerts": 1, "turns": 4}
    assert path.with_name(path.name + "-wal").stat().st_size == 0  # the deleted text is not left in the log
    with pytest.raises(ValueError, match="0 days or more"):
        journal.purge(-1)
    journal.close()


def test_retention_setting_defaults_to_90_days_and_rejects_nonsense(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from appliance.config import Settings

    assert Settings(data_dir=tmp_path).journal_retention_days == 90
    with pytest.raises(ValidationError, match="journal_retention_days"):
        Settings(data_dir=tmp_path, journal_retention_days=0)


# -- the CLI --------------------------------------------------------------------------------------

runner = CliRunner()


def test_kiosk_journal_purge(tmp_path: Path) -> None:
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data")}
    r = runner.invoke(app, ["journal", "purge"], env=env)
    assert r.exit_code == 0 and "nothing to purge" in r.stdout
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    _fill(journal)
    _age(journal, 40)
    journal.close()
    r = runner.invoke(app, ["journal", "purge", "--older-than", "60"], env=env)
    assert r.exit_code == 0 and "turns" in r.stdout and "      0" in r.stdout
    r = runner.invoke(app, ["journal", "purge", "--older-than", "30"], env=env)
    assert r.exit_code == 0, r.output
    lines = dict(line.split() for line in r.stdout.splitlines()[1:])
    assert lines == {"outbox": "0", "handoffs": "1", "gaps": "1", "clarifications": "1", "alerts": "1", "turns": "4"}
    r = runner.invoke(app, ["journal", "purge", "--older-than", "-3"], env=env)
    assert r.exit_code == 2 and "greater than or equal to 0" in r.output


def test_safe_text_escapes_what_a_terminal_acts_on() -> None:
    assert safe_text("a\x1b[2Jb\u202ec\x9bd\x7fe\rf\x00") == "a\\x1b[2Jb\\u202ec\\x9bd\\x7fe\\x0df\\x00"
    assert safe_text("第一行\n\t第二行 ünïcödé 〔手机号〕") == "第一行\n\t第二行 ünïcödé 〔手机号〕"
    assert safe_text("\u2066\u2069\u202a") == "\\u2066\\u2069\\u202a"


def test_journal_show_does_not_pass_control_characters_to_the_terminal(tmp_path: Path) -> None:
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160"}  # wide enough not to cut the question
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    journal.record(_answer("清屏\x1b[2J\x1b]0;owned\x07 [bold]不是标记[/] \u202eevil", "handoff", "complaint"))
    journal.close()
    r = runner.invoke(app, ["journal", "show", "handoffs"], env=env)
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout and "\x07" not in r.stdout
    assert "\\x1b[2J" in r.stdout and "\\u202e" in r.stdout and "[bold]不是标记[/]" in r.stdout
    r = runner.invoke(app, ["journal", "show", "handoffs", "--json"], env=env)
    assert "\u202e" not in r.stdout and "\x1b" not in r.stdout
    assert json.loads(r.stdout)["question"].startswith("清屏\x1b[2J")  # the same data, escaped as JSON


def test_journal_show_lists_a_handoffs_callback_number(tmp_path: Path) -> None:
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160"}
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    journal.record(_answer("我要投诉物业，麻烦回电13812345678", "handoff", "complaint"))
    journal.close()
    r = runner.invoke(app, ["journal", "show", "handoffs"], env=env)
    assert r.exit_code == 0, r.output
    assert "callback" in r.stdout and "13812345678" in r.stdout and "回电〔手机号〕" in r.stdout
    narrow = Console(width=60, file=io.StringIO(), highlight=False, soft_wrap=True)  # a staff laptop's terminal
    with mock.patch("appliance.cli.system.out", narrow):
        assert runner.invoke(app, ["journal", "show", "handoffs"], env=env).exit_code == 0
    shown = narrow.file.getvalue()
    body = shown[shown.index("┡") :]  # the rows, below the header
    assert "13812" in body and "…" not in body  # folded onto more lines, not cut


def test_tours_show_does_not_pass_control_characters_to_the_terminal(tmp_path: Path) -> None:
    tour = tmp_path / "evil.tour.toml"
    tour.write_text(
        'id = "evil"\ntitle = "标题\\u001b[2J[red]"\nlang = "zh"\nsummary = "简介\\u202e倒序"\n\n'
        '[[steps]]\ntitle = "第一步\\u009b"\nnarration = "讲解\\u001b]0;x\\u0007结束"\n'
        'slide = { heading = "标\\u001bc题", bullets = ["要点\\u2066"] }\n',
        encoding="utf-8",
    )
    r = runner.invoke(app, ["tours", "show", str(tour)], env={"KIOSK_DATA_DIR": str(tmp_path / "data")})
    assert r.exit_code == 0, r.output
    for raw in ("\x1b", "\u202e", "\x9b", "\x07", "\u2066"):
        assert raw not in r.stdout, repr(raw)
    for shown in (
        "标题\\x1b[2J[red]",
        "简介\\u202e倒序",
        "第一步\\x9b",
        "讲解\\x1b]0;x\\x07结束",
        "标\\x1bc题",
        "要点\\u2066",
    ):
        assert shown in r.stdout, shown


def test_tours_run_does_not_pass_control_characters_to_the_terminal(tmp_path: Path) -> None:
    tour = tmp_path / "evil.tour.toml"
    tour.write_text(
        'id = "evil"\ntitle = "标题"\nlang = "zh"\nsummary = "简介"\n\n'
        '[[steps]]\ntitle = "第一步\\u001b[2J[red]"\nnarration = "讲解\\u001b]0;x\\u0007结束"\n'
        'slide = { heading = "标\\u001bc题", bullets = ["要点\\u202e"] }\n',
        encoding="utf-8",
    )
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data")}
    r = runner.invoke(app, ["tours", "run", str(tour), "--speed", "0", "--robot", "none"], env=env)
    assert r.exit_code == 0, r.output
    for raw in ("\x1b", "\u202e", "\x07"):
        assert raw not in r.stdout, repr(raw)
    for shown in ("第一步\\x1b[2J[red]", "讲解\\x1b]0;x\\x07结束", "标\\x1bc题", "要点\\u202e"):
        assert shown in r.stdout, shown


def test_the_appliance_keeps_the_numbers_its_guides_publish(settings) -> None:
    """The journal's redactor keeps every number written in the knowledge base's guides (here the
    demo's 010-0000-2345, which the site profile does not give) and redacts a resident's."""
    from appliance.bootstrap import build_appliance

    with build_appliance(settings, use_llm=False) as a:
        assert a.journal is not None
        kept = a.journal.redact("指南上写的 010-0000-2345 打不通，我的是 13812345678")
        assert kept == "指南上写的 010-0000-2345 打不通，我的是 〔手机号〕"
