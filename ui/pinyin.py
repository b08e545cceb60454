"""A pinyin input method for the kiosk's own on-screen keyboard (pure Python, no Qt).

Residents type Latin letters on the touchscreen keyboard; :class:`PinyinIME` turns them into
Chinese candidates::

    ime = PinyinIME(extra_words=["社保卡", "挂失", "居住证"], cache_dir=settings.cache_dir)
    ime.candidates("shebaoka")      # ['社保卡', ...]
    ime.candidates("sbk")           # initials only: ['社保卡', ...]
    ime.segment("shebaoka")         # "she'bao'ka", for the composition line
    ime.commit("shebaoka", "社保")  # "ka": what is left to compose

What the index holds
    * the top ``top_n`` (60 000) multi-character words of jieba's bundled ``dict.txt`` by
      frequency (cut-off frequency 37; words whose simplified form differs, e.g. 沈思, are left
      out), each with one reading from pypinyin (its phrase dictionary resolves polyphones:
      银行 = yin'hang);
    * every single character pypinyin knows (41 923: 〇 and the CJK blocks, extensions included),
      once per toneless reading (50 482 entries): the main reading weighted by the character's
      jieba frequency, the others by a tenth of it (行 hang, 了 liao); characters jieba does not
      list rank after every listed one, then extension A, traditional forms (those OpenCC t2s
      changes, also mis-encoded entries of dict.txt such as 紝) and the supplementary planes;
    * on top, at every construction, the domain vocabulary ``extra_words`` (the knowledge base's
      titles, synonyms, words of sample questions), which rank before general words of the same
      match quality. Their readings are assembled from the general index (fewest indexed words:
      社保卡 = 社保 + 卡), so pypinyin is not imported when the cache is used.

    110 482 general entries, kept as three parallel sequences sorted by a toneless pinyin key
    (``"she'bao'ka'"``, ü written ``v``) with the weights (jieba frequencies) in an array; a
    search walks the syllable lattice of the typed letters and narrows key ranges by bisection,
    so no trie is kept.

Figures (development machine: 2-core Xeon, Python 3.11, pypinyin 0.55.0, jieba 0.42.1)
    * building the general index: 1.9–2.0 s (importing pypinyin 0.15 s, parsing dict.txt 0.4 s,
      pypinyin for the 60 000 words about 1 s); it therefore goes to ``cache_dir`` as JSON
      (2.2 MB) named by a hash of jieba's dict.txt, the pypinyin version, ``top_n``, whether
      OpenCC is present and the format version, written atomically, older ones removed;
    * constructing from the cache, with the demo knowledge base's 3 082 jieba words as domain
      words: 0.08 s (hashing dict.txt included);
    * memory: 14.5 MB retained by a loaded IME (tracemalloc; peak 20 MB while loading), about
      31 MB of resident set. A build without the cache also leaves pypinyin imported, which
      keeps about 58 MB resident until the process ends;
    * :meth:`PinyinIME.candidates`: median 0.75 ms, 95th percentile 2.1 ms over typical input
      (full pinyin, initials, one letter, 20 letters of initials); a search visits at most
      ``_MAX_STATES`` lattice states.

Data sources: jieba's ``dict.txt`` (word, frequency, part of speech; MIT licence) for the words and
their frequencies; pypinyin (MIT) for the readings (its ``pinyin_dict`` and phrase dictionary).

Thread safety: everything is built in ``__init__`` (run it on a worker thread) and never changed
afterwards; :meth:`~PinyinIME.candidates`, :meth:`~PinyinIME.segment` and :meth:`~PinyinIME.commit`
only read it, so they may be called from any thread at once.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import tempfile
import time
from array import array
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

__all__ = ["PinyinIME"]

log = logging.getLogger(__name__)

DEFAULT_TOP_N = 60_000
#: Bumped whenever the cached index's layout or content rules change.
_FORMAT = 1
_CACHE_PREFIX = "pinyin-index-"
#: Separator after every syllable of a key; the next code point bounds a key-prefix range.
_SEP = "'"
_SEP_NEXT = chr(ord(_SEP) + 1)
#: The longest syllables (zhuang, chuang, shuang) have six letters.
_MAX_SYLLABLE = 6
#: Upper bound on the lattice states one search visits (keeps pathological input fast).
_MAX_STATES = 20_000
#: Single letters and zh/ch/sh that may stand for a whole syllable (abbreviations: sbk = 社保卡).
_INITIALS = frozenset("bpmfdtnlgkhjqxrzcsywaeo") | {"zh", "ch", "sh"}
#: Weight of a character's secondary readings relative to its main one.
_SECONDARY_READING = 0.1
_INPUT_OK = re.compile(r"[a-z' ]+")
_CJK_WORD = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+")


class _Index(NamedTuple):
    """Entries sorted by (key, -weight, word): ``keys[i]`` is ``"she'bao'ka'"``."""

    keys: list[str]
    words: list[str]
    weights: array[int]


class _Group(NamedTuple):
    """Entries ``lo:hi`` of one index whose whole key matched the letters up to ``end``."""

    end: int
    lo: int
    hi: int
    #: How many syllables were matched by a prefix or an initial rather than spelled out.
    inexact: int
    domain: bool
    cuts: tuple[int, ...]


class _Hit(NamedTuple):
    word: str
    cuts: tuple[int, ...]
    #: True when the word covers all the letters (otherwise only the syllables up to ``cuts[-1]``).
    whole: bool


class _Lattice(NamedTuple):
    raw: str
    letters: str
    #: ``pos[i]``: where letter ``i`` of ``letters`` is in ``raw``; ``pos[len(letters)] == len(raw)``.
    pos: list[int]
    #: ``edges[i]``: (end, syllable, exact) for every syllable a token starting at ``i`` may stand for.
    edges: list[list[tuple[int, str, bool]]]
    #: ``reach[i]``: the letters from ``i`` on can be split into tokens.
    reach: list[bool]


class PinyinIME:
    """Pinyin to Chinese candidates over jieba's frequent words, all characters and a domain list.

    ``extra_words``: the domain vocabulary (any iterable of strings; items that are not Chinese,
    e.g. ``"12345热线"``, are skipped). ``cache_dir``: where the general index is cached (created if
    missing; ``None`` builds it every time, about 2 s). ``top_n``: how many jieba words to index.

    After construction, ``loaded_from_cache`` tells whether the general index came from the cache,
    ``load_seconds`` how long the whole construction took and ``cache_file`` the cache's path.
    """

    def __init__(
        self,
        extra_words: Iterable[str] = (),
        cache_dir: Path | None = None,
        *,
        top_n: int = DEFAULT_TOP_N,
    ) -> None:
        started = time.perf_counter()
        self.top_n = top_n
        self.loaded_from_cache = False
        self.cache_file: Path | None = None
        general: _Index | None = None
        syllables: list[str] | None = None
        if cache_dir is not None:
            self.cache_file = Path(cache_dir) / f"{_CACHE_PREFIX}{_cache_key(top_n)}.json"
            loaded = _load_cache(self.cache_file)
            if loaded is not None:
                general, syllables = loaded
                self.loaded_from_cache = True
        if general is None or syllables is None:
            general, syllables = _build_general(top_n)
            if self.cache_file is not None:
                _save_cache(self.cache_file, general, syllables)
        self._general = general
        self._syllables = frozenset(syllables)
        self._prefixes = _prefix_table(syllables)
        self._domain = self._build_domain(extra_words)
        self.load_seconds = time.perf_counter() - started

    # -- public API ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of indexed entries (a character with two readings counts twice)."""
        return len(self._general.keys) + len(self._domain.keys)

    def candidates(self, letters: str, limit: int = 12) -> list[str]:
        """Up to ``limit`` distinct Chinese candidates for the typed ``letters``, best first.

        ``letters``: a–z (upper case is folded), apostrophes or spaces as syllable separators;
        ``v`` is ü (``lv`` = 绿; ``jv``/``lue`` are accepted for ju/lve). Any split into syllables
        is tried (``xian`` = 先 or 西安); the last syllable may be incomplete (``shebaok``); an
        initial (one letter or zh/ch/sh) may stand for a syllable (``sbk``, ``shebk``).

        Order: words covering all the letters, those spelled out syllable for syllable first,
        then by how few syllables needed a prefix or an initial; then words covering only the
        first syllables (longest first), so that a phrase can be typed in one go and picked piece
        by piece (see :meth:`commit`). Among equals, domain words first, then by frequency.
        Empty or unreadable input gives ``[]``.
        """
        if limit <= 0:
            return []
        return [hit.word for hit in self._hits(letters, limit)]

    def segment(self, letters: str) -> str:
        """The letters split into syllables for display, e.g. ``"she'bao'ka"``, ``"s'b'k"``.

        The split of the first candidate when it covers all the letters; otherwise the split with
        the fewest incomplete syllables, then the fewest syllables (ties: the longer first
        syllable). Unreadable input is returned as is.
        """
        lattice = self._lattice(letters)
        if lattice is None:
            return letters
        cuts = next((hit.cuts for hit in self._hits(letters, 1, lattice) if hit.whole), None)
        if cuts is None:
            cuts = _best_split(lattice, 0)
        text = lattice.letters
        return _SEP.join(text[a:b] for a, b in zip((0, *cuts), cuts, strict=False))

    def commit(self, letters: str, chosen: str) -> str:
        """What is left to compose after ``chosen`` was picked for ``letters``.

        ``""`` when ``chosen`` covers all the letters; the rest of the typed text when it covers
        only the first syllables (``commit("shebaoka", "社保")`` is ``"ka"``), with which the
        keyboard keeps composing. A ``chosen`` that no reading of the letters gives (typed by
        other means) also gives ``""``.
        """
        lattice = self._lattice(letters)
        if lattice is None:
            return ""
        for hit in self._hits(letters, None, lattice):
            if hit.word == chosen:
                if hit.whole:
                    return ""
                return lattice.raw[lattice.pos[hit.cuts[-1]] :].lstrip(_SEP + " ")
        return ""

    # -- search --------------------------------------------------------------------------------

    def _lattice(self, letters: str) -> _Lattice | None:
        raw = letters.lower() if isinstance(letters, str) else ""
        if not raw or not _INPUT_OK.fullmatch(raw):
            return None
        text_parts: list[str] = []
        pos: list[int] = []
        ends: list[int] = []  # explicit syllable boundaries, as letter indices
        for m in re.finditer(r"[a-z]+", raw):
            text_parts.append(m.group())
            pos.extend(range(m.start(), m.end()))
            ends.append(len(pos))
        if not pos:
            return None
        text = "".join(text_parts)
        n = len(text)
        pos.append(len(raw))
        edges: list[list[tuple[int, str, bool]]] = [[] for _ in range(n)]
        chunk_end = 0
        for i in range(n):
            while ends[chunk_end] <= i:
                chunk_end += 1
            limit = min(ends[chunk_end], i + _MAX_SYLLABLE)
            for j in range(i + 1, limit + 1):
                token = _canonical(text[i:j])
                last = j == n
                if token in self._syllables:
                    edges[i].append((j, token, True))
                if last or token in _INITIALS:
                    edges[i].extend((j, s, False) for s in self._prefixes.get(token, ()) if s != token)
        reach = [False] * (n + 1)
        reach[n] = True
        for i in range(n - 1, -1, -1):
            reach[i] = any(reach[j] for j, _, _ in edges[i])
        if not reach[0]:
            return None
        return _Lattice(raw, text, pos, edges, reach)

    def _groups(self, lattice: _Lattice, index: _Index, domain: bool) -> list[_Group]:
        """Every run of entries whose key matches the letters from the start up to some cut."""
        keys = index.keys
        n = len(lattice.letters)
        edges, reach = lattice.edges, lattice.reach
        groups: list[_Group] = []
        stack: list[tuple[int, int, int, str, int, tuple[int, ...]]] = [(0, 0, len(keys), "", 0, ())]
        visited = 0
        while stack and visited < _MAX_STATES:
            i, lo, hi, prefix, inexact, cuts = stack.pop()
            visited += 1
            for j, syllable, exact_edge in edges[i]:
                if not reach[j]:
                    continue
                key = prefix + syllable + _SEP
                lo2 = bisect.bisect_left(keys, key, lo, hi)
                if lo2 == hi or not keys[lo2].startswith(key):
                    continue
                hi2 = bisect.bisect_left(keys, key[:-1] + _SEP_NEXT, lo2, hi)
                inexact2 = inexact + (0 if exact_edge else 1)
                cuts2 = (*cuts, j)
                eq = bisect.bisect_right(keys, key, lo2, hi2)
                if eq > lo2:
                    groups.append(_Group(j, lo2, eq, inexact2, domain, cuts2))
                if j < n and eq < hi2:
                    stack.append((j, lo2, hi2, key, inexact2, cuts2))
        return groups

    def _hits(self, letters: str, limit: int | None, lattice: _Lattice | None = None) -> Iterator[_Hit]:
        """Distinct candidates in rank order (at most ``limit`` of them; ``None``: all).

        Sections: words covering all the letters; then words covering the first syllables of the
        reference split (the first whole match's, else :func:`_best_split`), longest first; then
        words covering the first syllables of other splits (西 for "xian"). Within a section: fewest
        syllables matched only by a prefix or an initial, domain words, frequency.
        """
        lattice = lattice or self._lattice(letters)
        if lattice is None:
            return
        n = len(lattice.letters)
        groups = self._groups(lattice, self._domain, True) + self._groups(lattice, self._general, False)
        whole = [g for g in groups if g.end == n]
        seen: set[str] = set()
        count = 0
        reference: tuple[int, ...] | None = None
        for word, cuts in self._merge(whole):
            if word in seen:
                continue
            seen.add(word)
            reference = reference or cuts
            yield _Hit(word, cuts, True)
            count += 1
            if limit is not None and count >= limit:
                return
        if reference is None:
            reference = _best_split(lattice, 0)
        parts = [g for g in groups if g.end < n]
        on_reference = [g for g in parts if g.cuts == reference[: len(g.cuts)]]
        elsewhere = [g for g in parts if g.cuts != reference[: len(g.cuts)]]
        for section in (on_reference, elsewhere):
            for word, cuts in self._merge(section):
                if word in seen:
                    continue
                seen.add(word)
                yield _Hit(word, cuts, False)
                count += 1
                if limit is not None and count >= limit:
                    return

    def _merge(self, groups: list[_Group]) -> Iterator[tuple[str, tuple[int, ...]]]:
        """The groups' words in rank order: (-end, inexact syllables, not domain, -weight)."""

        def run(g: _Group) -> Iterator[tuple[tuple[int, int, int, int], str, tuple[int, ...]]]:
            index = self._domain if g.domain else self._general
            rank = (-g.end, g.inexact, 0 if g.domain else 1)
            for k in range(g.lo, g.hi):
                yield (*rank, -index.weights[k]), index.words[k], g.cuts

        for _, word, cuts in heapq.merge(*(run(g) for g in groups)):
            yield word, cuts

    # -- construction --------------------------------------------------------------------------

    def _build_domain(self, extra_words: Iterable[str]) -> _Index:
        """Index the domain words, weighted by their weight in the general index (else 0).

        A domain word's reading is assembled from the general index rather than from pypinyin
        (importing it costs 0.15 s and keeps about 58 MB resident): the word is split into the
        fewest indexed words (社保卡 = 社保 + 卡, 共有产权 = 共有 + 产权), each keeping its pypinyin
        reading, single characters taking their main reading. Words with a character no reading
        is known for, and items that are not Chinese, are skipped.
        """
        if isinstance(extra_words, str):
            extra_words = [extra_words]
        words: list[str] = []
        seen: set[str] = set()
        for item in extra_words:
            word = item.strip() if isinstance(item, str) else ""
            if word and word not in seen and _CJK_WORD.fullmatch(word):
                seen.add(word)
                words.append(word)
        if not words:
            return _Index([], [], array("l"))
        chars = set("".join(words))
        pieces: dict[str, tuple[str, int]] = {}  # word or character -> (key, weight)
        general = self._general
        for key, word, weight in zip(general.keys, general.words, general.weights, strict=True):
            if word[0] in chars and (word not in pieces or pieces[word][1] < weight):
                pieces[word] = (key, weight)
        rows: list[tuple[str, int, str]] = []
        for word in words:
            key = _reading(word, pieces)
            if key is None:
                log.debug("pinyin: no reading for domain word %r", word)
                continue
            known = pieces.get(word)
            rows.append((key, -(known[1] if known and known[0] == key else 0), word))
        rows.sort()
        return _Index([r[0] for r in rows], [r[2] for r in rows], array("l", (-r[1] for r in rows)))


# -- helpers ---------------------------------------------------------------------------------------


def _canonical(token: str) -> str:
    """Accepted spellings: ``jv``/``qv``/``xv``/``yv`` for ju…, ``lue``/``nue`` for lve/nve."""
    if len(token) >= 2 and token[1] == "v" and token[0] in "jqxy":
        return token[0] + "u" + token[2:]
    if token in ("lue", "nue"):
        return token[0] + "ve"
    return token


def _reading(word: str, pieces: dict[str, tuple[str, int]]) -> str | None:
    """The key of ``word`` built from the fewest indexed pieces (None if a character has none)."""
    n = len(word)
    best: list[tuple[int, str] | None] = [None] * (n + 1)
    best[0] = (0, "")
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        for j in range(i + 1, n + 1):
            piece = pieces.get(word[i:j])
            if piece is None:
                continue
            option = (here[0] + 1, here[1] + piece[0])
            if best[j] is None or option[0] < best[j][0]:
                best[j] = option
    result = best[n]
    return result[1] if result is not None else None


def _prefix_table(syllables: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Every prefix of a syllable → the syllables starting with it."""
    table: dict[str, list[str]] = {}
    for syllable in sorted(syllables):
        for k in range(1, len(syllable) + 1):
            table.setdefault(syllable[:k], []).append(syllable)
    return {prefix: tuple(found) for prefix, found in table.items()}


def _best_split(lattice: _Lattice, start: int) -> tuple[int, ...]:
    """Cuts from ``start`` to the end: fewest incomplete tokens, then fewest tokens."""
    n = len(lattice.letters)
    best: list[tuple[int, int, tuple[int, ...]] | None] = [None] * (n + 1)
    best[n] = (0, 0, ())
    for i in range(n - 1, start - 1, -1):
        options = []
        for j, _, exact in lattice.edges[i]:
            rest = best[j]
            if rest is not None:
                options.append((rest[0] + (0 if exact else 1), rest[1] + 1, (j, *rest[2])))
        if options:
            # equal scores: the longest first token (options are generated shortest first)
            best[i] = min(options, key=lambda o: (o[0], o[1], -o[2][0]))
    result = best[start]
    return result[2] if result is not None else ()


def _jieba_dict() -> Path:
    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        raise RuntimeError("pinyin: jieba is not installed")
    return Path(spec.origin).parent / "dict.txt"


def _t2s():
    """OpenCC's traditional → simplified converter, or None (then nothing is filtered)."""
    try:
        import opencc
    except ImportError:  # pragma: no cover - opencc is a dependency of the kiosk
        return None
    return opencc.OpenCC("t2s")


def _cache_key(top_n: int) -> str:
    digest = hashlib.sha256()
    digest.update(_jieba_dict().read_bytes())
    try:
        pypinyin_version = importlib.metadata.version("pypinyin")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        pypinyin_version = "?"
    opencc_on = importlib.util.find_spec("opencc") is not None
    digest.update(f"|{pypinyin_version}|{top_n}|{_FORMAT}|{opencc_on}".encode())
    return digest.hexdigest()[:20]


def _build_general(top_n: int) -> tuple[_Index, list[str]]:
    """The general index from jieba's dict.txt and pypinyin (about 2 s)."""
    from pypinyin import lazy_pinyin
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    started = time.perf_counter()
    char_freq: dict[str, int] = {}
    words: list[tuple[int, str]] = []
    with _jieba_dict().open(encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                continue
            word, freq = parts[0], int(parts[1])
            if len(word) == 1:
                char_freq[word] = max(freq, char_freq.get(word, 0))
            elif _CJK_WORD.fullmatch(word):
                words.append((freq, word))
    words.sort(key=lambda fw: -fw[0])  # stable: dict order among equal frequencies
    t2s = _t2s()

    rows: dict[tuple[str, str], int] = {}
    syllables: set[str] = set()
    plain_of: dict[str, str] = {}  # toned reading -> toneless (1 500 distinct for 50 000 readings)
    for code, readings in pinyin_dict.items():
        char = chr(code)
        if not _CJK_WORD.fullmatch(char):
            continue
        if char in char_freq and not (t2s and t2s.convert(char) != char):
            weight = char_freq[char]
        elif t2s and t2s.convert(char) != char:
            weight = -2
        elif "\u4e00" <= char <= "\u9fff" or char == "\u3007":
            weight = 0
        elif "\u3400" <= char <= "\u4dbf":
            weight = -1
        else:
            weight = -3
        toneless: list[str] = []
        for reading in readings.split(","):
            plain = plain_of.get(reading)
            if plain is None:
                plain = plain_of[reading] = to_normal(reading)
            if plain.isascii() and plain.isalpha() and plain not in toneless:
                toneless.append(plain)
        for rank, plain in enumerate(toneless):
            syllables.add(plain)
            w = weight if rank == 0 or weight <= 0 else int(weight * _SECONDARY_READING)
            key = plain + _SEP
            rows[(key, char)] = max(w, rows.get((key, char), w))

    taken = 0
    for freq, word in words:
        if taken >= top_n:
            break
        if t2s and t2s.convert(word) != word:
            continue
        readings = lazy_pinyin(word, errors=lambda chars: [""] * len(chars))
        if len(readings) != len(word) or not all(r in syllables for r in readings):
            continue
        key = _SEP.join(readings) + _SEP
        rows[(key, word)] = max(freq, rows.get((key, word), freq))
        taken += 1

    ordered = sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    index = _Index([k for (k, _), _ in ordered], [w for (_, w), _ in ordered], array("l", (v for _, v in ordered)))
    log.info("pinyin: indexed %d entries (%d words) in %.2f s", len(index.keys), taken, time.perf_counter() - started)
    return index, sorted(syllables)


def _load_cache(path: Path) -> tuple[_Index, list[str]] | None:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format") != _FORMAT:
            return None
        interned: dict[str, str] = {}
        keys = [interned.setdefault(k, k) for k in data["keys"].split("\n")]
        words = data["words"].split("\n")
        weights = array("l", data["weights"])
        syllables = data["syllables"]
        if not (len(keys) == len(words) == len(weights)) or not keys or any(a > b for a, b in pairwise(keys)):
            raise ValueError("inconsistent index")
        return _Index(keys, words, weights), syllables
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("pinyin: ignoring the unreadable index cache %s (%s)", path, e)
        return None


def _save_cache(path: Path, index: _Index, syllables: list[str]) -> None:
    data = {
        "format": _FORMAT,
        "keys": "\n".join(index.keys),
        "words": "\n".join(index.words),
        "weights": index.weights.tolist(),
        "syllables": syllables,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from another account's kiosk
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in path.parent.glob(f"{_CACHE_PREFIX}*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.warning("pinyin: could not write the index cache %s (%s)", path, e)
