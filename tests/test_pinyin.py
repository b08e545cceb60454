"""The on-screen keyboard's pinyin input method (ui/pinyin.py): candidates, ranking, cache."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import ui.pinyin as pinyin_module
from ui.pinyin import PinyinIME

DOMAIN = ["社保卡", "挂失", "补办", "居住证", "共有产权", "低保", "高龄津贴", "社保", "想", "12345热线", ""]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pinyin-cache")


@pytest.fixture(scope="module")
def ime(cache_dir: Path) -> PinyinIME:
    """Built once (about 2 s, writes the cache), with the domain words."""
    built = PinyinIME(DOMAIN, cache_dir=cache_dir)
    assert not built.loaded_from_cache
    return built


@pytest.fixture(scope="module")
def plain(ime: PinyinIME, cache_dir: Path) -> PinyinIME:
    """The same general index without domain words (loaded from the cache)."""
    return PinyinIME(cache_dir=cache_dir)


def first(ime: PinyinIME, letters: str) -> str | None:
    found = ime.candidates(letters)
    return found[0] if found else None


# -- full pinyin, segmentation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("letters", "word"),
    [
        ("shebaoka", "社保卡"),
        ("juzhuzheng", "居住证"),
        ("dibao", "低保"),
        ("di bao", "低保"),
        ("di'bao", "低保"),
        ("gongyouchanquan", "共有产权"),
        ("gaolingjintie", "高龄津贴"),
        ("guashi", "挂失"),
        ("buban", "补办"),
        ("zhonghuarenmingongheguo", "中华人民共和国"),
        ("nihao", "你好"),
    ],
)
def test_full_pinyin_puts_the_word_first(ime: PinyinIME, letters: str, word: str) -> None:
    assert first(ime, letters) == word


def test_all_segmentations_are_tried(ime: PinyinIME) -> None:
    found = ime.candidates("xian")
    assert found[0] == "先"
    assert "西安" in found  # xi'an, on the first page
    assert first(ime, "xi'an") == "西安"  # an apostrophe forces the split
    assert first(ime, "fangan") == "方案"


def test_segment_for_display(ime: PinyinIME) -> None:
    assert ime.segment("shebaoka") == "she'bao'ka"
    assert ime.segment("xian") == "xian"
    assert ime.segment("xi'an") == "xi'an"
    assert ime.segment("di bao") == "di'bao"
    assert ime.segment("sbk") == "s'b'k"
    assert ime.segment("shebk") == "she'b'k"
    assert ime.segment("woyaobanshebaoka") == "wo'yao'ban'she'bao'ka"  # no whole match: fewest syllables
    assert ime.segment("123") == "123"


# -- ü, prefixes, abbreviations -------------------------------------------------------------------


def test_v_stands_for_u_umlaut(ime: PinyinIME) -> None:
    assert "绿" in ime.candidates("lv")[:3]
    assert first(ime, "lvse") == "绿色"
    assert first(ime, "nv") == "女"
    assert first(ime, "lve") == "略"
    assert first(ime, "lue") == "略"  # the common spelling of lve
    assert ime.candidates("jvzhuzheng") == ime.candidates("juzhuzheng")  # jv = ju


def test_incomplete_last_syllable_is_a_prefix(ime: PinyinIME) -> None:
    assert first(ime, "shebaok") == "社保卡"
    assert first(ime, "juzhuzh") == "居住证"
    assert first(ime, "zhongg") == "中国"
    assert first(ime, "juzhuzhe") == "居住证"  # zhe: zheng
    assert first(ime, "gongyouchanqu") == "共有产权"  # qu is a syllable, here the start of quan


@pytest.mark.parametrize(
    ("letters", "word"),
    [("sbk", "社保卡"), ("jzz", "居住证"), ("gycq", "共有产权"), ("shebk", "社保卡"), ("sbka", "社保卡")],
)
def test_initials_abbreviate_words(ime: PinyinIME, letters: str, word: str) -> None:
    assert first(ime, letters) == word


def test_an_initial_alone_gives_characters_first(ime: PinyinIME) -> None:
    found = ime.candidates("sh")
    assert found[0] == "是"
    assert all(len(w) == 1 for w in found)  # sh as one initial beats s + h (社会)


# -- ranking ---------------------------------------------------------------------------------------


def test_domain_words_outrank_general_ones(ime: PinyinIME, plain: PinyinIME) -> None:
    # without the domain list, a more frequent general word with the same reading comes first
    assert first(plain, "dibao") == "地堡"
    assert first(ime, "dibao") == "低保"
    assert first(plain, "sheb") == "设备"
    assert first(ime, "sheb") == "社保"
    assert "挂失" not in plain.candidates("guashi")  # not among jieba's frequent words
    assert first(ime, "guashi") == "挂失"


def test_exact_matches_outrank_prefix_matches_even_from_the_domain(ime: PinyinIME, plain: PinyinIME) -> None:
    found = ime.candidates("xian", 1000)
    # 想 (xiang, a domain word, frequent) matches by prefix: after every exact xian, rare 苋 included
    assert found.index("苋") < found.index("想")
    # ... and first among the prefix matches, where it follows 向 without the domain list
    assert found.index("想") < found.index("向")
    reference = plain.candidates("xian", 1000)
    assert reference.index("向") < reference.index("想")


def test_whole_matches_come_before_leading_syllables(ime: PinyinIME) -> None:
    found = ime.candidates("shebaoka")
    assert found[:2] == ["社保卡", "社保"]  # then she...
    assert ime.candidates("shebaokaguashi")[:2] == ["社保卡", "社保"]  # a phrase: its first words
    # leading words follow the best split wo'yao'ban...: 我, not 握有 (wo'y + "aoban...")
    assert first(ime, "woyaobanshebaoka") == "我"
    assert "握有" in ime.candidates("woyou")


def test_no_duplicates_and_limit_respected(ime: PinyinIME) -> None:
    many = ime.candidates("s", 200)
    assert len(many) == 200
    assert len(set(many)) == len(many)
    assert many.count("说") == 1  # shuo and shui both start with s
    assert ime.candidates("sheb", 50).count("社保") == 1  # both a domain and a general word
    assert len(ime.candidates("s", 3)) == 3
    assert ime.candidates("shebaoka", 1) == ["社保卡"]
    assert ime.candidates("s", 0) == []
    assert len(ime.candidates("shi")) == 12


@pytest.mark.parametrize("letters", ["", " ", "'''", "123", "社保", "she-bao", "iii", "v", "ü", "shebaoka!"])
def test_invalid_input_gives_nothing(ime: PinyinIME, letters: str) -> None:
    assert ime.candidates(letters) == []


def test_upper_case_is_folded(ime: PinyinIME) -> None:
    assert ime.candidates("SheBaoKa") == ime.candidates("shebaoka")


def test_non_chinese_domain_items_are_skipped(ime: PinyinIME, plain: PinyinIME) -> None:
    assert "12345热线" not in ime.candidates("rexian", 50)
    assert len(ime) == len(plain) + len(DOMAIN) - 2


# -- commit ----------------------------------------------------------------------------------------


def test_commit_returns_the_letters_left_to_compose(ime: PinyinIME) -> None:
    assert ime.commit("shebaoka", "社保卡") == ""
    assert ime.commit("shebaoka", "社保") == "ka"
    assert ime.commit("shebaoka", "社") == "baoka"
    assert ime.commit("shebaoka'guashi", "社保卡") == "guashi"
    assert ime.commit("sbkgs", "社保卡") == "gs"
    assert ime.commit("xian", "西") == "an"
    assert ime.commit("shebaoka", "居住证") == ""  # not a reading of the letters
    assert ime.commit("123", "社保") == ""


# -- cache, threads --------------------------------------------------------------------------------


def test_the_cache_is_written_and_reused(ime: PinyinIME, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ime.cache_file is not None and ime.cache_file.is_file()
    assert ime.cache_file.parent == cache_dir

    def no_build(top_n: int):
        raise AssertionError("the index was rebuilt instead of loaded")

    monkeypatch.setattr(pinyin_module, "_build_general", no_build)
    again = PinyinIME(DOMAIN, cache_dir=cache_dir)
    assert again.loaded_from_cache
    assert again.cache_file == ime.cache_file
    assert len(again) == len(ime)
    for letters in ("shebaoka", "sbk", "xian", "lv", "s"):
        assert again.candidates(letters, 30) == ime.candidates(letters, 30)


def _tiny_build(calls: list[int]):
    def build(top_n: int):
        calls.append(top_n)
        index = pinyin_module._Index(["she'", "she'bao'"], ["社", "社保"], pinyin_module.array("l", [10, 5]))
        return index, ["bao", "she"]

    return build


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(pinyin_module, "_build_general", _tiny_build(calls))
    stale = tmp_path / "pinyin-index-0000.json"
    stale.write_text("{}")
    first_ime = PinyinIME(cache_dir=tmp_path, top_n=7)
    assert calls == [7] and not first_ime.loaded_from_cache
    assert first_ime.cache_file is not None and first_ime.cache_file.is_file()
    assert not stale.exists()  # a cache for another jieba/pypinyin/top_n is removed
    first_ime.cache_file.write_text('{"format": 1, "keys": "she\'"')  # truncated
    second = PinyinIME(cache_dir=tmp_path, top_n=7)
    assert calls == [7, 7] and not second.loaded_from_cache
    assert json.loads(second.cache_file.read_text())["words"] == "社\n社保"
    third = PinyinIME(cache_dir=tmp_path, top_n=7)
    assert calls == [7, 7] and third.loaded_from_cache
    assert third.candidates("shebao") == ["社保", "社"]


def test_an_unwritable_cache_dir_is_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(pinyin_module, "_build_general", _tiny_build(calls))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    built = PinyinIME(cache_dir=blocker / "cache", top_n=7)
    assert calls == [7] and first(built, "she") == "社"


def test_concurrent_reads_agree(ime: PinyinIME) -> None:
    queries = ["shebaoka", "sbk", "xian", "dibao", "zhongg", "lv", "s", "woyaobanshebaoka"] * 25
    expected = {q: ime.candidates(q) for q in set(queries)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ime.candidates, queries))
    assert all(result == expected[q] for q, result in zip(queries, results, strict=True))


def test_a_single_string_is_one_domain_word(plain: PinyinIME, cache_dir: Path) -> None:
    one = PinyinIME("挂失", cache_dir=cache_dir)
    assert len(one) == len(plain) + 1  # not 挂 and 失
    assert first(one, "guashi") == "挂失"
