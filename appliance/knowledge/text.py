"""Text analysis shared by ingest and retrieval: normalisation, segmentation, query terms.

Index and query must see text the same way, so both go through one :class:`Analyzer`:

* normalisation: Unicode NFKC (full-width letters, digits and punctuation to half-width),
  traditional -> simplified Chinese (OpenCC ``t2s``), lower case, whitespace collapsed;
* segmentation: jieba's search mode (``cut_for_search``: words plus their dictionary sub-words,
  so "社会保障卡" also yields "社会", "保障", "社会保障"), HMM off so that unknown words fall apart
  into single characters the same way in documents and in questions; plus the character bigrams of
  every run of Chinese characters, so that words missing from jieba's dictionary ("经适房") and
  segmentation differences between a question and a guide still match (overlapping bigrams are the
  classic robust indexing unit for Chinese retrieval);
* English words are stemmed with the Snowball English (Porter2) stemmer (``snowballstemmer``), so
  "registering", "registered" and "registration" meet "register" (M. F. Porter, "Snowball: A
  language for stemming algorithms", 2001); measured on real English FAQ data (InsuranceQA answers,
  a construction-permit FAQ), stemming added 2 to 4 points of hit@1 to plain BM25;
* query terms: the segmented question minus stop words (function words and question words that say
  nothing about the topic), after synonym expansion (colloquial -> official term, from the site's
  synonyms file); query bigrams: the bigrams of what is left of the question once its stop words are
  taken out.

A colloquial variant expands only where it stands as whole words of the question (jieba's word
boundaries): "不见了" expands "卡不见了" but not "看不见了".

:data:`ANALYZER_VERSION` changes whenever the tokens produced for the same text change; a knowledge
base indexed by another version rebuilds its lexical index from its stored text when opened.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import jieba
import opencc
import snowballstemmer

#: Bumped whenever :meth:`Analyzer.index_text` would give other tokens for the same text.
ANALYZER_VERSION = "2"

_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_LATIN = re.compile(r"[A-Za-z]")
_LATIN_WORD = re.compile(r"[a-z]+")

# Function words and question words. They carry no topic, and in BM25 over ~100 short guides they
# would still add noise to the match and to the coverage feature of the confidence model.
STOPWORDS_ZH = frozenset(
    """
    我 你 您 他 她 它 我们 你们 他们 咱 咱们 俺 自己 人家 家里 的 地 得 了 着 过 吗 呢 吧 啊 呀 哦 嘛 么 哈 啦 喔 哎 唉
    是 在 有 和 与 及 或 跟 同 就 都 也 还 又 再 才 只 很 太 挺 最 更 这 那 这个 那个 这些 那些 这样 那样 这么 那么
    个 些 点 一下 一点 一些 一个 想 要 想要 需要 得要 应该 可以 可不可以 能 能不能 能否 会 会不会 是不是 有没有 行不行
    请问 请 问 问问 问一下 麻烦 谢谢 你好 您好 喂 嗯 那个啥 啥 什么 甚么 怎么 怎么办 怎么样 怎样 咋 咋办 咋整 如何 哪 哪里 哪儿
    哪个 哪些 多少 几 几点 为什么 为啥 干嘛 吗 给 把 被 让 叫 对 向 从 到 去 来 上 下 里 中 后 前 时候 现在 今天 一下子
    办 弄 搞 整 做 帮 帮忙 告诉 知道 说 讲 看看 看 找 用 然后 但是 可是 因为 所以 如果 要是 的话 之前 之后
    """.split()
)
STOPWORDS_EN = frozenset(
    """
    a an the i me my we our you your he she it its they them their this that these those is are was were be
    been being am do does did doing have has had can could should would will shall may might must to of in
    on at by for from with about as into over under up down out off so than too very just not no yes or and
    but if then there here what which who whom whose when where why how please hi hello thanks thank get
    got need want like know tell help some any much many one
    myself ours ourselves yours yourself yourselves him his himself her hers herself itself theirs
    themselves having ought cannot let because until while against between through during before
    after above below again further once all both each few more most other such nor only own same
    also instead really actually still even else something anything way
    t s re ve ll d m doesn don didn isn aren wasn weren hasn haven hadn won wouldn shan shouldn
    couldn mustn
    """.split()
)
"""English words a question is searched without (question side only: the index keeps every word).
The function words of the Snowball English stop list (snowball.tartarus.org, algorithms/english/
stop.txt), the fragments contractions split into ("doesn't" -> "doesn", "t"), and words residents
use to frame a request ("please", "need", "tell", "help", "instead", "way")."""


_STEMMER = snowballstemmer.stemmer("english")
# Stemmed forms too, since query words are stemmed before the stop-word test ("does" -> "doe").
_STOPWORDS_EN_ALL = STOPWORDS_EN | {_STEMMER.stemWord(w) for w in STOPWORDS_EN}


def _is_stopword(word: str) -> bool:
    # Long digit runs (phone, ID and card numbers a resident reads out) never name a topic.
    return word in STOPWORDS_ZH or word in _STOPWORDS_EN_ALL or (len(word) >= 7 and word.isdigit())


@lru_cache(maxsize=65536)
def _stem_latin(word: str) -> str:
    return _STEMMER.stemWord(word)


def stem(word: str) -> str:
    """The Porter2 stem of a lower-case English word; any other token is returned unchanged."""
    return _stem_latin(word) if word.isascii() and _LATIN_WORD.fullmatch(word) else word


def detect_lang(text: str) -> str:
    """'zh' if ``text`` contains any CJK ideograph, 'en' if it has Latin letters, else 'zh'."""
    if _CJK.search(text):
        return "zh"
    return "en" if _LATIN.search(text) else "zh"


class Analyzer:
    """Normalises and segments text for the FTS5 index and for queries.

    Args:
        synonyms: official term -> colloquial variants (see ``appliance.site.load_synonyms``).
        cache_dir: where jieba keeps its prefix-dictionary cache (default: the system temp dir);
            taken from the first analyzer of the process that names one before jieba has loaded.

    Every analyzer of a process segments with jieba's default tokenizer (``jieba.dt``), whose
    dictionary nothing here changes (colloquial variants are matched by :meth:`expand`, not added
    as jieba words): its prefix dictionary, about 70 MB and 0.9–1.4 s to load on a 2-core machine
    (measured), is loaded once a process rather than once per analyzer (a sync building the new
    knowledge base beside the one in use, a UI test building a fresh appliance). jieba loads it
    under its own lock.
    """

    def __init__(self, synonyms: Mapping[str, Iterable[str]] | None = None, cache_dir: Path | None = None):
        self._t2s = opencc.OpenCC("t2s")
        # A question is normalised by every stage of a search (expansion, words, bigrams, the
        # confidence features): the work is done once per text, for the last few texts.
        self._normalized = functools.lru_cache(maxsize=256)(self._normalize)
        self._jieba = jieba.dt
        logging.getLogger("jieba").setLevel(logging.WARNING)
        if cache_dir is not None and not self._jieba.initialized and self._jieba.tmp_dir is None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._jieba.tmp_dir = str(cache_dir)
        expansions: dict[str, set[str]] = {}
        for official, variants in (synonyms or {}).items():
            target = self.normalize(official)
            for variant in variants:
                key = self.normalize(variant)
                if key and key != target:
                    expansions.setdefault(key, set()).add(target)
        # Longest variant first, so that "经济适用房" is seen before a shorter variant inside it.
        self._expansions = sorted(expansions.items(), key=lambda kv: -len(kv[0]))

    def normalize(self, text: str) -> str:
        """NFKC, traditional -> simplified, lower case, whitespace collapsed to single spaces
        (remembered for the last 256 texts of up to 512 characters: questions, not documents)."""
        return self._normalized(text) if len(text) <= 512 else self._normalize(text)

    def _normalize(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        text = self._t2s.convert(text)
        return _SPACE.sub(" ", text).strip().lower()

    def words(self, text: str) -> list[str]:
        """Search-mode words of ``text`` (normalised here), punctuation dropped, English stemmed,
        in order."""
        out: list[str] = []
        for piece in self._jieba.cut_for_search(self.normalize(text), HMM=False):
            out.extend(stem(w) for w in _WORD.findall(piece))
        return out

    def _boundaries(self, norm: str) -> set[int]:
        """Character offsets in ``norm`` where a jieba word (precise mode, HMM off) starts or ends."""
        cuts = {0}
        pos = 0
        for piece in self._jieba.cut(norm, HMM=False):
            pos += len(piece)
            cuts.add(pos)
        return cuts

    def _variants_in(self, norm: str) -> list[tuple[str, set[str]]]:
        """The colloquial variants that stand as whole words in ``norm``, with their official terms."""
        cuts: set[int] | None = None
        found = []
        for variant, targets in self._expansions:
            start = norm.find(variant)
            if start < 0:
                continue
            if cuts is None:
                cuts = self._boundaries(norm)
            while start >= 0:
                if start in cuts and start + len(variant) in cuts:
                    found.append((variant, targets))
                    break
                start = norm.find(variant, start + 1)
        return found

    @staticmethod
    def bigrams(normalized: str) -> list[str]:
        """Character bigrams of each run of two or more Chinese characters, in order."""
        return [run[i : i + 2] for run in _CJK_RUN.findall(normalized) for i in range(len(run) - 1)]

    def index_text(self, text: str) -> str:
        """``text`` as space-separated index tokens (words, then bigrams): the FTS5 column form."""
        return " ".join(self.words(text) + self.bigrams(self.normalize(text)))

    def expand(self, text: str) -> str:
        """Normalise ``text`` and append the official term of every colloquial variant it contains."""
        norm = self.normalize(text)
        added: list[str] = []
        for _, targets in self._variants_in(norm):
            added.extend(t for t in sorted(targets) if t not in norm and t not in added)
        return f"{norm} {' '.join(added)}" if added else norm

    def query_terms(self, text: str) -> list[str]:
        """Distinct topic words of a question: expanded, segmented, stop words removed, in order."""
        return list(dict.fromkeys(w for w in self.words(self.expand(text)) if not _is_stopword(w)))

    def query_bigrams(self, text: str) -> list[str]:
        """Distinct bigrams of the expanded question once its stop words are blanked out."""
        expanded = self.expand(text)
        stop = {w for w in self.words(expanded) if _is_stopword(w)}
        for word in sorted(stop, key=len, reverse=True):
            expanded = expanded.replace(word, " ")
        return list(dict.fromkeys(self.bigrams(expanded)))

    def warm_up(self) -> None:
        """Load jieba's dictionary now (about a second, once a process) rather than on the first question."""
        self._jieba.initialize()

    def expansions_for(self, text: str) -> list[str]:
        """The official terms :meth:`expand` would add to ``text`` (for explanations and logs)."""
        norm = self.normalize(text)
        return sorted({t for _, ts in self._variants_in(norm) for t in ts if t not in norm})
