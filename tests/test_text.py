"""Normalisation, segmentation and query terms."""

from __future__ import annotations

import functools

from appliance.knowledge.text import Analyzer, detect_lang


def test_normalize_width_traditional_and_space(analyzer: Analyzer) -> None:
    assert analyzer.normalize("我的社保卡掉了，怎麼辦？") == "我的社保卡掉了,怎么办?"
    assert analyzer.normalize("ＡＢＣ　１２３３３") == "abc 12333"
    assert analyzer.normalize("  經濟適用房\n\t申請  ") == "经济适用房 申请"


def test_query_terms_drop_function_words(analyzer: Analyzer) -> None:
    terms = analyzer.query_terms("请问我社保卡掉了怎么办呢")
    assert "社保卡" in terms
    for stop in ("请问", "我", "了", "怎么办", "呢"):
        assert stop not in terms


def test_english_questions_drop_function_words_and_contraction_fragments(analyzer: Analyzer) -> None:
    terms = analyzer.query_terms("Why doesn't my card work? I can't log in, they're all saying something else")
    assert {"card", "work", "log", "say"} <= set(terms)
    for stop in ("doesn", "t", "re", "all", "someth", "els", "why", "my"):
        assert stop not in terms
    assert "t" in analyzer.index_text("I can't log in").split()  # the index keeps every word


def test_colloquial_terms_are_expanded(analyzer: Analyzer) -> None:
    assert "共有产权保障住房" in analyzer.expand("经适房怎么申请")
    assert analyzer.expansions_for("我想办个老年卡") == ["老年人优待证"]
    assert analyzer.expansions_for("老年人优待证在哪办") == []  # already official: nothing added
    terms = analyzer.query_terms("經適房")  # traditional input still expands
    assert "产权" in terms and "住房" in terms


def test_bigrams_and_long_numbers(analyzer: Analyzer) -> None:
    assert analyzer.bigrams("经适房 abc 补办") == ["经适", "适房", "补办"]
    terms = analyzer.query_terms("我电话13812345678，社保卡丢了")
    assert "13812345678" not in terms and "社保卡" in terms
    assert "12333" in analyzer.query_terms("12333是什么电话")  # short service numbers stay


def test_index_text_is_space_separated_tokens(analyzer: Analyzer) -> None:
    text = analyzer.index_text("社会保障卡挂失")
    tokens = text.split()
    assert "社会保障" in tokens and "挂失" in tokens and "保障" in tokens and "障卡" in tokens


def test_detect_lang() -> None:
    assert detect_lang("社保卡") == "zh"
    assert detect_lang("Where is the office?") == "en"
    assert detect_lang("12333") == "zh"
    assert detect_lang("Where do I get 社保卡?") == "zh"


def test_a_second_analyzer_segments_without_loading_jiebas_dictionary_again(
    analyzer: Analyzer, monkeypatch, tmp_path
) -> None:
    import jieba

    analyzer.warm_up()

    def no_second_load(*_args, **_kwargs):
        raise AssertionError("jieba's prefix dictionary was loaded a second time")

    monkeypatch.setattr(jieba.marshal, "load", no_second_load)
    monkeypatch.setattr(jieba.Tokenizer, "gen_pfdict", no_second_load)
    other = Analyzer({"社会保障卡": ["社保卡"]}, cache_dir=tmp_path / "cache")
    other.warm_up()
    assert other.words("我的社保卡掉了") == analyzer.words("我的社保卡掉了")
    assert "社会保障卡" in other.expand("社保卡掉了") and "社会保障卡" not in Analyzer().expand("社保卡掉了")


def test_a_question_is_normalised_once_for_every_stage_of_a_search(analyzer: Analyzer, monkeypatch) -> None:
    """Expansion, words, bigrams and the confidence features all normalise the question: the work
    is done once per text (a short one), and a document is not kept."""
    done: list[str] = []
    work = analyzer._normalize
    monkeypatch.setattr(analyzer, "_normalize", lambda text: done.append(text) or work(text))
    monkeypatch.setattr(analyzer, "_normalized", functools.lru_cache(maxsize=256)(analyzer._normalize))
    question = "我的經適房申請怎麼辦"
    first = analyzer.expand(question)
    assert analyzer.expand(question) == first and analyzer.words(question) and analyzer.normalize(question)
    assert done == [question]
    document = "社区" * 400
    analyzer.normalize(document)
    analyzer.normalize(document)
    assert done.count(document) == 2
