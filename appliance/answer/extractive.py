"""Extractive answers: the matched guide's own lines, chosen for what the question asks.

No model runs, so nothing can be invented: every piece of the answer is a whole list item, a
whole step or a whole sentence of the guide (bullets, numbers and a few generic labels such as
"办理地点：" aside), and nothing is ever cut inside a clause. The composer

1. recognises what the question asks about, its *aspects* (:data:`ASPECTS`, see
   :func:`detect_aspects`): conditions, materials, steps, place, hours, phone, fees, deadlines,
   applying on someone's behalf, how long it takes, amounts; a question may ask several, and one
   that asks nothing in particular ("社保卡掉了怎么办") gets the guide's key lines: its steps,
   what to bring, where and when;
2. selects, for each aspect, the sections of the matching kind (:data:`ASPECT_KINDS`) and then the
   lines anywhere in the guide that answer it (:data:`ASPECT_LINES`: a deadline written in the
   tips, a 代办 line in the materials list, a fee line in 温馨提示);
3. writes two forms (:class:`Extract`): ``text`` for the screen, with every relevant item whole,
   and ``spoken`` for the voice, the most relevant whole items within about
   :data:`SPOKEN_CHARS` Chinese characters or :data:`SPOKEN_WORDS` English words, followed by
   "详细内容在屏幕上。" / "The details are on the screen." when the screen says more.

Lists on the screen are never shortened with "等"; only the spoken form may end a list with "等",
and then the whole list is on the screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from appliance.knowledge.sectioning import strip_bullet
from appliance.knowledge.store import Chunk, DocInfo
from appliance.knowledge.text import stem

#: What a question can ask about, in the order used when two aspects are asked at one position.
ASPECTS: tuple[str, ...] = (
    "on_behalf",
    "conditions",
    "materials",
    "process",
    "place",
    "hours",
    "phone",
    "fees",
    "amount",
    "time_limit",
    "duration",
)

#: Spoken-form budget for Chinese, in characters (punctuation and spaces not counted). Mandarin is
#: spoken at about 4–5 characters (syllables) a second, a rough, commonly quoted figure for
#: conversational and read-aloud speech, so 60 characters take about 12–15 s: one or two whole
#: items, short enough to hold a resident's attention at a lobby kiosk. The title said first and
#: a first item that is long on its own may take it to at most a third more (80 characters).
SPOKEN_CHARS = 60
#: Spoken-form budget for English, in words. Conversational English runs at about 150 words a
#: minute (~2.5 words a second; again a rough, commonly quoted figure), so 30 words take about
#: 12 s; at most a third more (40 words) with the title.
SPOKEN_WORDS = 30
#: The screen form of an answer to no particular aspect keeps its key parts within about this many
#: characters (Chinese) or words (English); later parts (phone, then hours) are left out whole.
#: Answers to specific aspects quote everything relevant whatever its length.
GENERAL_SCREEN = {"zh": 420, "en": 170}

# -- recognising the question --------------------------------------------------------------------

_Q = {
    "on_behalf": (
        r"代办|代领|代交|代缴|代为|代理|代替|替.{0,4}(办|领|交|申请|去|跑|补|报名|登记|挂失)|"
        r"帮.{1,5}(办|领|申请|补|交|报名|登记|挂失)|委托|授权|"
        r"(家属|家人|子女|儿子|女儿|孩子|老伴|亲戚|朋友|别人|他人)(去|来|帮忙|代)?.{0,3}"
        r"(行不行|可以吗|行吗|能不能|可不可以|成不成|能办吗|能领吗)|"
        r"我(去|来|过去|替)(办|领|跑)?.{0,2}(行不行|可以吗|行吗|成不成|能不能|可不可以|中不中)|"
        r"能不能(我|家人|家属|子女|儿子|女儿)去|本人(不能|去不了|来不了|不方便|没法|无法)|"
        r"(不能|没法|无法)(亲自|本人)|腿脚不好|行动不便|卧床|来不了|去不了|"
        r"on (his|her|my|their|our|someone(?:'s)?|somebody(?:'s)?) behalf|someone else|"
        r"(for|instead of) (my|his|her|our) (mother|father|mum|mom|dad|parents?|son|daughter|wife|husband|"
        r"grandmother|grandfather|grandma|grandpa|child|children|kids?)\b|"
        r"\b(my|our) (son|daughter|wife|husband|child|children|kids?|family|relatives?|hr|employer|company|"
        r"colleague|friend|carer|caregiver)\b.{0,30}\b(do|apply|collect|go|come|register|pick)\b|"
        r"\b(do|apply|collect|pick|get|go|come|register)\b[^.?]{0,30}\bfor me\b|authori[sz]|\bagent\b|proxy|"
        r"(can't|cannot|unable to) (come|go|attend)|in person"
    ),
    "conditions": (
        r"条件|资格|符合|够格|够不够|算不算|哪些人|什么人|谁(可以|能)|要求是|"
        r"eligib|qualif|who (can|is allowed to|may) (apply|get|register|join)|requirements?\b"
    ),
    "materials": (
        r"材料|带什么|带啥|带哪些|要带|带上|带着|拿什么|准备什么|准备啥|准备哪些|需要(什么|哪些|啥)(?!条件)|"
        r"什么东西|证件|资料|documents?|\bbring\b|paperwork|what (do|will|would) i need(?! to do)|need to take"
    ),
    "process": (
        r"流程|步骤|手续(?!费)|怎么办|怎么(办理|申请|弄|领|补|处理|操作|报名|登记|挂失|交|缴|参保|落户|注册)|"
        r"如何(办理|申请|报名|登记|办|领|补)|咋(办|整|弄)|怎样(办|申请|才能)|"
        r"what (should|do|can) (i|we) do|\bsteps?\b|procedure|process\b|"
        r"how (do|can|should|would) (i|we|you)\b(?! get there)|how to\b"
    ),
    "place": (
        r"在哪|哪里|哪儿|什么地方|地点|地址|去哪|上哪|到哪|哪个(窗口|地方|部门|单位|派出所|楼|门)|窗口在|哪办|"
        r"\bwhere\b|address|which office|location|how do i get there"
    ),
    "hours": (
        r"几点|什么时候|啥时候|哪天|哪一天|几号|周末|周六|周日|星期|礼拜|节假日|(上班|下班)(时间|了吗|没)|(?<!不)(?<!不给)开门|关门|营业|"
        r"开放|(办理|受理|上班|工作|办公|营业|供餐|投放|接种)时间|什么时间|时间(是|呢|段)|"
        r"\bwhen\b|hours|opening|\bopen\b|\bclosed?\b|what time|weekends?|saturdays?|sundays?"
    ),
    "phone": (
        r"(?<![打来接])(电话|热线)(?!说|里|\s*[\d(（])|号码是?多少|什么号|哪个号|联系方式|怎么联系|联系谁|打给谁|给谁打|找谁|问谁|"
        r"phone|\bnumbers?\b|hotline|contact|who (do|can|should) i (call|ring|contact)|\bcall\b"
    ),
    "fees": (
        r"收费|费用|要钱|花钱|收钱|免费|工本费|手续费|交钱|交费|付费|贵不贵|贵吗|(要|花|收|交|付).{0,3}多少钱?|"
        r"多少钱|(租金|房租|价格|价钱)[^，。？?]{0,4}多少|\bcosts?\b|\bfees?\b|how much .{0,30}charge|(is there|any) (a )?charge|\bpay\b|\bfree\b|price|"
        r"expensive"
    ),
    "amount": (
        r"(发|给|补|领|拿|赔)(我|了)?多少钱?|(补贴|补助|津贴|奖励|报销|救助|养老金|低保金|失业金)[^，。？?]{0,6}多少钱?|"
        r"标准是|补贴标准|发放标准|每月多少|"
        r"一个月多少|能领多少|how much|allowance|subsidy|how much money"
    ),
    "time_limit": (
        r"期限|截止|最晚|最迟|几天内|多少天内|多久(之|以)?内|多长时间(之|以)?内|之内|以内|过期(了|还|后|怎么|能|会)|逾期|"
        r"超过.{0,4}(天|时间|期限)|来得及|晚了|什么时候之前|哪天之前|有效期|多久要|"
        r"deadline|within|how soon|by when|too late|\b(when|before|until)\b.{0,30}\bexpir|renew|"
        r"when (should|must|do) (i|we) (have to )?(apply|renew|register|report)|"
        r"how long (do|does) (i|we|it) (have|stay valid|last)"
    ),
    "duration": (
        r"多久|多长时间|多少时间|几天|多少天|几个工作日|要等|等多久|多快|当天(能|可以)?(拿|领|办)|马上(能|可以)?(拿|领)|"
        r"(什么时候|啥时候|几时)(能|可以|才能)?(拿到|领到|拿|领|到账|出结果|下来|办好|办完)|"
        r"how long|how quickly|how fast|how many days|processing time|take to (process|get|issue)|"
        r"when (will|can|do) (i|we) (get|receive|collect|pick)|(is|be) ready"
    ),
}

#: Question patterns, one per aspect (case-insensitive).
ASPECT_PATTERNS: dict[str, re.Pattern[str]] = {name: re.compile(_Q[name], re.I) for name in ASPECTS}

# "能不能 / 可不可以 / can I": a question of eligibility only when it asks nothing more specific.
_WEAK_CONDITIONS = re.compile(
    r"能不能|能否|能办吗|能申请|可以申请|可不可以|可以办|能领吗|我(能|可以)(办|领|申请|参加)|行不行|"
    r"\bcan i (apply|get|join|register|use|still)|\bam i (allowed|able)|\bcan (seniors|foreigners|i)\b",
    re.I,
)
# When the span matched for the first aspect lies inside one matched for the second, the first
# is the same words read more loosely ("什么时候" inside "什么时候能拿到", "多少钱" inside "发多少钱").
_SHADOWED_BY = (
    ("hours", "duration"),
    ("hours", "time_limit"),
    ("duration", "time_limit"),
    ("fees", "amount"),
    ("conditions", "on_behalf"),
    ("process", "place"),
    ("phone", "on_behalf"),
)


def detect_aspects(question: str) -> list[str]:
    """What the question asks about: names from :data:`ASPECTS`, in the order the question asks them.

    An empty list means the question asks about nothing in particular (or only about the steps,
    in which case the list is ``["process"]``); the answer is then the guide's key lines.
    """
    spans: dict[str, list[tuple[int, int]]] = {}
    for name, pattern in ASPECT_PATTERNS.items():
        found = [m.span() for m in pattern.finditer(question) if m.end() > m.start()]
        if found:
            spans[name] = found
    for weak, strong in _SHADOWED_BY:
        if weak in spans and strong in spans:
            inside = all(any(s <= a and b <= e for s, e in spans[strong]) for a, b in spans[weak])
            if inside:
                del spans[weak]
    # "how much" alone is about money received unless the question is about a cost.
    if "amount" in spans and "fees" in spans:
        if all(question[a:b].lower() == "how much" for a, b in spans["amount"]):
            del spans["amount"]
    if not spans:
        weak = [m.span() for m in _WEAK_CONDITIONS.finditer(question)]
        if weak:
            spans["conditions"] = weak
    return sorted(spans, key=lambda n: (spans[n][0][0], ASPECTS.index(n)))


# -- answering lines -------------------------------------------------------------------------------

#: Which section kinds answer each aspect, best first.
ASPECT_KINDS: dict[str, tuple[str, ...]] = {
    "on_behalf": (),
    "conditions": ("conditions",),
    "materials": ("materials",),
    "process": ("process", "emergency_steps"),
    "place": ("place", "place_hours"),
    "hours": ("hours", "place_hours"),
    "phone": ("phone",),
    "fees": ("fees",),
    "amount": ("benefits",),
    "time_limit": ("time_limit",),
    "duration": (),
}

_QTY = (
    r"(?<!\d)(?:\d{1,3}(?:\s*[–-]\s*\d{1,3})?|[一两二三四五六七八九十半]+)\s*(?:个)?(?:工作日|天|日|个月|月|年|周(?!岁)|小时|分钟)|"
    r"\d+(?:\s*[–-]\s*\d+)?\s*(?:working days?|days?|weeks?|months?|years?|hours?|minutes?)\b"
)
_MONEY = r"\d+(?:\.\d+)?\s*(?:元|块|yuan)"
_HOURS_LINE = (
    r"\d{1,2}[:：]\d{2}|周[一二三四五六日末]|星期|工作日|节假日|24\s*小时|全天|每天|每月第|上午|下午|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekends?|working days|24 hours|every day|daily"
)
_PHONE_LINE = r"\d{3,4}-\d{4}-\d{4}|(?<![\d-])(?:110|119|120|122|12333|12345|12356|96110)(?![\d-])"

#: Lines that answer an aspect wherever they stand in the guide (case-insensitive). For fees,
#: amounts, deadlines, durations and 代办 they are added to the sections of the aspect's kind;
#: for the others they are used only when the guide has no such section.
ASPECT_LINES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.I)
    for name, pattern in {
        "on_behalf": r"代办|代为|代领|代交|代缴|代理|委托|授权|陪同|行动不便|不能到场|卧床|上门(受理|认证|核实|评定|服务)|"
        r"(家属|监护人|(?<!独生)子女|家人|老伴|亲属)(?!入学|上学)[^，。；]{0,8}(代|替|帮|陪|持|带|到场|办理|申请|领取|签字|报名)|"
        r"on your behalf|for you\b|\bagent\b|authori[sz]|family member|cannot come|can't come|HR staff|"
        r"representative|guardian|someone (else )?applies",
        "conditions": r"年满|周岁|户籍|符合|条件|对象|适用|\baged\b|or older|eligib|must be|you live in",
        "materials": r"带上|带好|携带|请带|原件|复印件|证件|照片|\bbring\b|passport|ID card|documents?",
        "process": r"^\s*(第?[一二三四五六七八九十\d]+[步、.]|先|再|然后|最后)|\b(first|then|next|finally)\b",
        "place": r"地点|地址|窗口|\d+号(?!楼)|派出所|门口|东门|[东西南北]侧|楼.{0,2}层|"
        r"\bwhere\b|address|window|\b\d+ \w+ (road|avenue)\b|building|floor|gate|station\b|shelter",
        "hours": _HOURS_LINE,
        "phone": _PHONE_LINE,
        "fees": r"收费|免费|不收|工本费|手续费|登记费|配送费|检查费|费用|交钱|花钱|付费|自付|租金|价\s*\d|"
        r"(缴费|交费)(标准|比例|基数)|(缴纳|缴费|交费)[^。；]{0,10}\d+\s*(元|%)|"
        r"\d+\s*元\s*/|\bfree\b|\bfees?\b|\bcosts?\b|no charge|\bpayable\b|\bprice|yuan per",
        "amount": _MONEY + r"|\d+\s*%|金额[按为是]|\d+\s*倍",
        "time_limit": rf"(?:{_QTY}).{{0,14}}(?:内|以内|之内|前|期满|截止|为止)|(?:缴费|集中|申报|报名)期|截止|"
        rf"\d+月\d+日(?:至|到|前|以前|之前)|"
        rf"(?:期限|截止|有效期|逾期|过期|最晚|最迟|不超过|尽量在|要在|须在|应在|请在|之日起).{{0,24}}(?:{_QTY})|"
        rf"\b(?:within|before|no later than|at least|lasts?|expires?|valid for|deadline)\b.{{0,40}}(?:{_QTY})|"
        rf"(?:{_QTY}).{{0,24}}\b(?:before|of (?:entry|arrival))\b",
        "duration": rf"(?:(?:{_QTY})|当场|当天|即时|次日|立即).{{0,16}}"
        rf"(?:办结|办完|办好|出结果|领|拿到|到账|发放|制证|完成|通知|到场|上门|送到|审核|告知|拨到|打到)|"
        rf"(?:办结|办完|出结果|制证|领证|领卡|审核|审批|完成|结果).{{0,12}}(?:{_QTY}|当场|当天)|"
        rf"\b(?:immediately|on the spot|same day)\b|"
        rf"\b(?:takes?|within|about|after|in)\b.{{0,30}}(?:{_QTY}).{{0,40}}"
        rf"\b(?:get|receive|ready|collect|issue|decide|arrive|result|card|permit|message)s?\b|"
        rf"\b(?:decides?|ready|issued|arrive)\b.{{0,30}}(?:{_QTY})",
    }.items()
}
# Section kinds that lead a general answer when retrieval matched them best ("责任怎么分").
_LEAD_KINDS: tuple[str, ...] = ("other", "benefits", "fees", "time_limit")
# Question words (weighted, see _terms) a line must share to be added to a general answer.
_FOCUS_MIN = {"zh": 1.6, "en": 0.8}
# How much a matching line counts by where it stands (a step or a condition over a remark).
_KIND_WEIGHT = {"overview": -0.5, "basis": 0.0, "tips": 0.3}
_STRONG_ON_BEHALF = re.compile(r"代办|代为|代领|委托|授权|on your behalf|for you\b|\bagent\b|authori[sz]", re.I)
# Headings of sections that answer place or hours without being of that kind ("投放时间和地点").
_PLACE_HEADING = re.compile(r"地点|地址|在哪|where|places?\b|points?\b|location", re.I)
_HOURS_HEADING = re.compile(r"时间|when|hours|times\b", re.I)
_PROCESS_HEADING = re.compile(r"怎么办|步骤|如何|流程|怎么|方式|what to do|how to|^if ", re.I)
# The label at the start of an item ("办理地点：", "When:"), and which labels name a time.
_ITEM_LABEL = re.compile(r"^([^：:，,。；;（(]{1,8})[：:]\s*")
_TIME_LABEL = re.compile(r"时间|when|hours|open", re.I)
# "代办的：…", "If the card is damaged: …": items for some applicants only.
_CONDITIONAL = re.compile(r"^[^，,：:]{1,14}的[：:，,]|^(如|若|如果|If |For )", re.I)

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "process": "办理步骤",
        "emergency_steps": "这样做",
        "materials": "需要带",
        "conditions": "条件",
        "place": "地点",
        "hours": "时间",
        "place_hours": "地点和时间",
        "phone": "电话",
        "benefits": "标准",
        "amount": "标准",
        "fees": "费用",
        "time_limit": "期限",
        "duration": "办理时长",
        "on_behalf": "代办",
        "tips": "提醒",
    },
    "en": {
        "process": "Steps",
        "emergency_steps": "What to do",
        "materials": "Bring",
        "conditions": "Who can apply",
        "place": "Where",
        "hours": "When",
        "place_hours": "Where and when",
        "phone": "Phone",
        "benefits": "Amount",
        "amount": "Amount",
        "fees": "Fees",
        "time_limit": "Deadline",
        "duration": "How long it takes",
        "on_behalf": "Applying for someone else",
        "tips": "Tip",
    },
}
#: Said after the spoken form when the screen shows more than was said, in the question's language.
SPOKEN_TAIL = {"zh": "详细内容在屏幕上。", "en": "The details are on the screen."}
#: Said first when the guide is in another language than the question.
CROSS_LANGUAGE_NOTE = {"zh": "这份指南是英文的。", "en": "This guide is in Chinese. "}

_ZH_NUMERALS = "一二三四五六七八九十"
_ZH_SENTENCE_END = re.compile(r"[。；！？;!?]+")
_EN_SENTENCE_END = re.compile(r"[.;!?]+(?=\s+\S)")
_EN_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|No|Mr|Mrs|Ms|Dr|St|approx|vs|a\.m|p\.m)|\b[A-Z])$")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_ZH_STOP_BIGRAMS = frozenset(
    "怎么 什么 可以 需要 哪里 多少 办理 请问 一下 是不是 能不能 要带 我的 我们 你们 这个 那个 如果 还是 的话 "
    "么办 么时 时候 有没 没有 不是 要不 吗？ 行不 不行".split()
)
_EN_STOP = frozenset(
    "the and for you your are can what when where how does did have has this that with from who which "
    "will would should could there their they them our its into about need want get got do i my me "
    "much long take takes is it be of to in on at a an or if any".split()
)


def section_items(chunk: Chunk) -> list[str]:
    """A section's lines as items: bullets and numbers removed, blank lines dropped."""
    return [strip_bullet(line) for line in chunk.text.split("\n") if strip_bullet(line)]


def sentences(text: str, lang: str) -> list[str]:
    """``text`` split after each sentence end, every piece keeping its own punctuation.

    Chinese ends sentences at 。；！？ (and their ASCII forms); English at . ; ! ? followed by a
    space, except after common abbreviations ("e.g.", "No.") and single capitals. Joining the
    pieces (with a space in English) gives ``text`` back, whitespace aside.
    """
    pattern = _ZH_SENTENCE_END if lang == "zh" else _EN_SENTENCE_END
    out: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if lang != "zh" and match.group().startswith(".") and _EN_ABBREV.search(text[start : match.start()]):
            continue
        piece = text[start : match.end()].strip()
        if piece:
            out.append(piece)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out


@lru_cache(maxsize=8192)
def _sentence_spans(line: str, lang: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each of :func:`sentences` in ``line``."""
    spans = []
    pos = 0
    for sentence in sentences(line, lang):
        start = line.index(sentence, pos)
        spans.append((start, start + len(sentence)))
        pos = start + len(sentence)
    return tuple(spans)


def spoken_length(text: str, lang: str) -> int:
    """How long ``text`` is to say: Chinese characters (and digits and letters, one each; spaces
    and punctuation not counted) for ``lang`` 'zh', whitespace-separated words for 'en'."""
    if lang == "zh":
        return len(_PUNCT.sub("", text))
    return len(text.split())


@dataclass(frozen=True)
class Extract:
    """An extractive answer.

    Attributes:
        text: the full answer for the screen: "关于“{title}”：" / "About “{title}”: ", then every
            relevant item whole, grouped under short labels ("需要带：…", "Steps: 1. … 2. …").
            A cross-language note leads when the guide's language differs from the question's.
        sections: the chunks ``text`` quotes, in order of first use.
        spoken: the short form for speech: the title ("{title}：", left out when the first item
            alone is long), then the most relevant whole items within about
            :data:`SPOKEN_CHARS` characters / :data:`SPOKEN_WORDS` words (a list cut short ends
            in "等"), then :data:`SPOKEN_TAIL` when ``text`` says more. Everything it quotes is
            in ``text``.
        aspects: what the question was read as asking (see :func:`detect_aspects`); empty (or
            just 'process') for a general answer.
        spoken_complete: True when ``spoken`` quotes everything ``text`` does (no tail).
    """

    text: str
    sections: tuple[Chunk, ...]
    spoken: str = ""
    aspects: tuple[str, ...] = ()
    spoken_complete: bool = True


class ExtractiveAnswerer:
    """Shapes a guide's sections into an answer for the screen and a short one for speech.

    Args:
        spoken_chars: budget of the spoken form in Chinese characters (see :data:`SPOKEN_CHARS`).
        spoken_words: budget of the spoken form in English words (see :data:`SPOKEN_WORDS`).
    """

    def __init__(self, spoken_chars: int = SPOKEN_CHARS, spoken_words: int = SPOKEN_WORDS):
        self.spoken_chars = spoken_chars
        self.spoken_words = spoken_words

    def answer(self, question: str, lang: str, doc: DocInfo, sections: Sequence[Chunk], best: Chunk) -> Extract:
        """Compose the answer.

        Args:
            question: the resident's question (read for its aspects and its words).
            lang: the question's language ('zh' or 'en'); when the guide is in the other language
                a short note in the question's language says so, and the spoken tail is in it.
            doc: the matched document.
            sections: the document's content sections in order (sample questions excluded).
            best: the section retrieval matched best (leads an answer to no particular aspect
                when it is not one of the standard errand sections).

        Returns:
            An :class:`Extract`; its text and spoken form are in the guide's language.
        """
        doc_lang = "en" if doc.lang == "en" else "zh"
        budget = self.spoken_words if doc_lang == "en" else self.spoken_chars
        return _Composer(doc_lang, budget).compose(question, "en" if lang == "en" else "zh", doc, sections, best)


# -- composition -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One line of the guide (a list item, a step, a paragraph)."""

    idx: int
    text: str
    chunk: Chunk
    spans: tuple[tuple[int, int], ...]  # sentence spans in ``text``

    @property
    def kind(self) -> str:
        return self.chunk.kind

    @property
    def intro(self) -> bool:
        """Ends with a colon: introduces the items after it ("申请调解时请带：")."""
        return self.text.rstrip().endswith(("：", ":"))


@dataclass(frozen=True)
class _Piece:
    """A quoted piece: a whole item, or whole sentences ``first..last-1`` of one."""

    item: _Item
    first: int = 0
    last: int | None = None
    number: int | None = None  # the step's number when quoted as a step
    score: float = 0.0
    pattern: re.Pattern[str] | None = None  # what a line found anywhere matched (a part said must too)

    @property
    def whole(self) -> bool:
        return self.first == 0 and (self.last is None or self.last >= len(self.item.spans))

    @property
    def text(self) -> str:
        if self.whole:
            return self.item.text.strip()
        spans = self.item.spans
        last = len(spans) if self.last is None else self.last
        return self.item.text[spans[self.first][0] : spans[last - 1][1]].strip()

    def key(self) -> tuple[int, int, int]:
        return (self.item.idx, self.first, len(self.item.spans) if self.last is None else self.last)

    def prefix(self, n: int) -> _Piece:
        """The first ``n`` sentences of this piece."""
        return _Piece(self.item, self.first, self.first + n, self.number, self.score, self.pattern)

    @property
    def n_sentences(self) -> int:
        return (len(self.item.spans) if self.last is None else self.last) - self.first


@dataclass
class _Segment:
    """Pieces answering one aspect (or one section), said under one label."""

    key: str
    label: str
    pieces: list[_Piece]
    steps: bool = False  # whole numbered steps
    is_list: bool = False  # an enumeration: a spoken part of it ends with "等"
    spoken_order: list[_Piece] = field(default_factory=list)  # most relevant first
    context: bool = False  # added for the screen only (a place line after a materials answer)

    def ranked(self) -> list[_Piece]:
        return self.spoken_order or self.pieces


class _Composer:
    """One answer's composition, in the guide's language ``lang``."""

    def __init__(self, lang: str, spoken_budget: int):
        self.lang = lang
        self._zh = lang == "zh"
        self.spoken_budget = spoken_budget
        self.labels = LABELS[lang]

    # -- entry -------------------------------------------------------------------------------------

    def compose(self, question: str, q_lang: str, doc: DocInfo, sections: Sequence[Chunk], best: Chunk) -> Extract:
        """See :meth:`ExtractiveAnswerer.answer`."""
        self.items = self._items(sections)
        self.terms = _idf_weighted(_terms(question, doc.title), self.items)
        self.best = next((c for c in sections if c.id == best.id), None)
        aspects = detect_aspects(question)
        specific = [a for a in aspects if a != "process"]

        segments: list[_Segment] = self._specific(aspects) if specific else []
        answered = bool(segments)  # False: nothing in the guide answers the aspects asked
        if not segments:
            segments = self._general(steps_first="process" in aspects)
        if not segments and not best.is_question and best.text.strip():
            # Nothing else to go on (no sections handed over): the matched section itself.
            self.items = self._items([best])
            segments = [_Segment("lead", self._label_of(self.items[0]), [_Piece(it) for it in self.items])]
        segments = _dedupe(segments)

        text_body = self._render(segments, spoken=False)
        # The items get the whole budget; the title said before them must leave the total under
        # the hard cap (a third more), else the title is left out of the spoken form.
        cap = self.spoken_budget * 4 // 3
        lead_cost = spoken_length(doc.title, self.lang)
        budget = min(self.spoken_budget, max(cap - lead_cost, self.spoken_budget // 2))
        spoken_segments, complete = self._spoken_selection(segments, specific=answered, budget=budget)
        spoken_body = self._render(spoken_segments, spoken=True)
        say_title = lead_cost + spoken_length(spoken_body, self.lang) <= cap

        if self._zh:
            text = f"关于“{doc.title}”：{text_body}"
            spoken = f"{doc.title}：{spoken_body}" if say_title else spoken_body
        else:
            text = f"About “{doc.title}”: {text_body}"
            spoken = f"{doc.title}: {spoken_body}" if say_title else spoken_body
        if q_lang != self.lang:
            text = CROSS_LANGUAGE_NOTE[q_lang] + text
            spoken = CROSS_LANGUAGE_NOTE[q_lang] + spoken
        if not complete:
            spoken += ("" if q_lang == "zh" and self._zh else " ") + SPOKEN_TAIL[q_lang]
        used = tuple(dict.fromkeys(p.item.chunk for s in segments for p in s.pieces))
        return Extract(
            text=text,
            sections=used,
            spoken=spoken.strip(),
            aspects=tuple(aspects),
            spoken_complete=complete,
        )

    # -- the guide's lines ---------------------------------------------------------------------------

    def _items(self, sections: Sequence[Chunk]) -> list[_Item]:
        items: list[_Item] = []
        for chunk in sections:
            for line in section_items(chunk):
                items.append(_Item(len(items), line, chunk, _sentence_spans(line, self.lang)))
        return items

    def _of_kind(self, *kinds: str) -> list[_Item]:
        for kind in kinds:
            found = [it for it in self.items if it.kind == kind]
            if found:
                return found
        return []

    def _overlap(self, text: str) -> float:
        return _overlap(self.terms, text)

    def _length_penalty(self, text: str) -> float:
        """Up to 1 for a line as long as the spoken budget or longer: of two lines that answer
        equally, the shorter one is easier to say and to take in."""
        return 0.75 * min(1.5, spoken_length(text, self.lang) / self.spoken_budget)

    def _matching(self, pattern: re.Pattern[str], *, exclude_kinds: Sequence[str] = (), cap: int = 5) -> list[_Piece]:
        """Lines anywhere that match ``pattern``: a short item whole, a long one by its matching
        sentences; the ``cap`` best by the question's words, in the guide's order."""
        found: list[_Piece] = []
        long = 70 if self._zh else 40
        for it in self.items:
            if it.kind in exclude_kinds or it.kind == "questions":
                continue
            hits = [i for i, (a, b) in enumerate(it.spans) if pattern.search(it.text[a:b])]
            if not hits:
                continue
            score = 1.0 + self._overlap(it.text) + _KIND_WEIGHT.get(it.kind, 0.5) - self._length_penalty(it.text)
            short = spoken_length(it.text, self.lang) <= long and it.kind != "overview"  # a paragraph: by sentences
            if short or len(it.spans) == 1:
                found.append(_Piece(it, score=score, pattern=pattern))
            else:
                # Runs of matching sentences, each quoted whole.
                runs: list[list[int]] = []
                for i in hits:
                    if runs and runs[-1][-1] == i - 1:
                        runs[-1].append(i)
                    else:
                        runs.append([i])
                for run in runs:
                    piece = _Piece(it, run[0], run[-1] + 1, pattern=pattern)
                    score = 1.0 + self._overlap(piece.text) + _KIND_WEIGHT.get(it.kind, 0.5)
                    found.append(replace(piece, score=score - self._length_penalty(piece.text)))
        top = sorted(found, key=lambda p: (-p.score, p.item.idx))[:cap]
        return sorted(top, key=lambda p: (p.item.idx, p.first))

    # -- answers to specific aspects -----------------------------------------------------------------

    def _specific(self, aspects: Sequence[str]) -> list[_Segment]:
        segments: list[_Segment] = []
        for aspect in aspects:
            if aspect == "process":
                segments.extend(self._steps_segment())
            else:
                segments.extend(self._aspect(aspect))
        if not any(s.pieces for s in segments):
            return []
        asked_where = {"place", "hours", "phone"} & set(aspects)
        errand = {"materials", "conditions", "on_behalf", "fees", "duration", "time_limit", "amount", "process"}
        if not asked_where and errand & set(aspects):
            segments.extend(self._place_segment("place", context=True))
        return segments

    def _aspect(self, aspect: str) -> list[_Segment]:
        label = self.labels.get(aspect, "")
        if aspect == "materials":
            return self._materials_segment()
        if aspect == "on_behalf":
            return self._on_behalf()
        if aspect in ("place", "hours"):
            return self._place_segment(aspect)
        if aspect == "duration":
            pieces = [_Piece(it) for it in self._of_kind("time_limit")]
            pieces += self._matching(ASPECT_LINES["duration"], exclude_kinds=("time_limit",))
            if not pieces:
                return self._place_segment("hours")
            return [self._lines_segment(aspect, label, pieces)]
        section = [_Piece(it) for it in self._of_kind(*ASPECT_KINDS[aspect])]
        if aspect in ("fees", "amount", "time_limit"):
            kinds = ASPECT_KINDS[aspect]
            lines = self._matching(ASPECT_LINES[aspect], exclude_kinds=(*kinds, "materials", "phone"))
            if aspect in ("fees", "amount"):
                # "多少钱" is best answered by a line with a sum in it.
                lines = [replace(p, score=p.score + 1.0) if re.search(_MONEY, p.text) else p for p in lines]
            if aspect == "amount":
                fee_words = ASPECT_LINES["fees"]
                lines = [p for p in lines if not fee_words.search(p.text)] or lines
            pieces = section + lines
        elif section:
            pieces = section
        else:
            pieces = self._matching(ASPECT_LINES[aspect], cap=4)
        if not pieces:
            return []
        return [self._lines_segment(aspect, label, pieces)]

    def _lines_segment(self, key: str, label: str, pieces: list[_Piece]) -> _Segment:
        ranked = sorted(pieces, key=lambda p: (-p.score, p.item.idx))
        return _Segment(key, label, pieces, spoken_order=ranked)

    def _materials_segment(self, *, agent_first: bool = False, lines: bool = True) -> list[_Segment]:
        items = self._of_kind("materials")
        if not items and not lines:
            return []
        if not items:
            pieces = self._matching(ASPECT_LINES["materials"], cap=4)
            return [self._lines_segment("materials", self.labels["materials"], pieces)] if pieces else []
        pieces = [_Piece(it) for it in items]
        plain = [p for p in pieces if not _CONDITIONAL.match(p.item.text) and not p.item.intro]
        conditional = [p for p in pieces if _CONDITIONAL.match(p.item.text)]
        if agent_first:
            agent = [p for p in pieces if ASPECT_LINES["on_behalf"].search(p.item.text)]
            order = agent + [p for p in plain if p not in agent]
        else:
            order = plain + conditional
        label = "" if items[0].intro else self.labels["materials"]
        return [_Segment("materials", label, pieces, is_list=True, spoken_order=order)]

    def _on_behalf(self) -> list[_Segment]:
        pattern = ASPECT_LINES["on_behalf"]
        lines = self._matching(pattern, exclude_kinds=("materials", "phone"), cap=4)
        for i, p in enumerate(lines):
            strong = 2.0 if _STRONG_ON_BEHALF.search(p.text) else 0.0
            kind = {"conditions": 1.0, "process": 0.5}.get(p.item.kind, 0.0)
            lines[i] = replace(p, score=p.score + strong + kind)
        out = [self._lines_segment("on_behalf", self.labels["on_behalf"], lines)] if lines else []
        materials = self._materials_segment(agent_first=True)
        if materials and any(pattern.search(p.item.text) for p in materials[0].pieces):
            # What the agent brings says more than a line that only mentions the family.
            strong = any(_STRONG_ON_BEHALF.search(p.text) for p in lines)
            out = out + materials if strong else materials + out
        return out

    def _steps_segment(self) -> list[_Segment]:
        items = self._of_kind("emergency_steps", "process")
        if items:
            kind = items[0].kind
            pieces = [_Piece(it, number=i) for i, it in enumerate(items, start=1)]
            return [_Segment(kind, self.labels[kind], pieces, steps=True)]
        # A guide without a steps section: a section whose heading says how ("起火怎么办"), the
        # one sharing most with the question.
        candidates = [
            c
            for c in dict.fromkeys(it.chunk for it in self.items)
            if c.kind == "other" and c.heading_path and _PROCESS_HEADING.search(c.heading_path[-1])
        ]
        if not candidates:
            return []
        chunk = max(candidates, key=lambda c: self._overlap(c.heading_path[-1] + "\n" + c.text))
        pieces = [_Piece(it) for it in self.items if it.chunk is chunk]
        numbered = bool(re.match(r"^\s*\d+[.、)）]", chunk.text))
        if numbered:
            pieces = [_Piece(p.item, number=i) for i, p in enumerate(pieces, start=1)]
        return [_Segment("process", chunk.heading_path[-1], pieces, steps=numbered)]

    def _place_segment(self, aspect: str, *, context: bool = False, lines: bool = True) -> list[_Segment]:
        """Where (``aspect`` 'place'), when ('hours') or both ('place_hours'); with ``context``,
        only the first place line, added to an answer about something else."""
        label = self.labels[aspect]
        items = self._of_kind("place_hours", aspect) if aspect != "place_hours" else self._of_kind("place_hours")
        if aspect == "place_hours" and not items:
            return []
        pieces: list[_Piece] = []
        if items:
            for it in items:
                m = _ITEM_LABEL.match(it.text)
                own = m.group(1) if m else ""
                is_time = bool(own and _TIME_LABEL.search(own))
                has_time = bool(re.search(_HOURS_LINE, it.text, re.I))
                if it.kind in ("place", "hours") or aspect == "place_hours":
                    keep = True
                elif aspect == "place":
                    keep = not is_time  # "办理地点：…", "社区协助：…窗口，周一至周五…"
                else:
                    keep = is_time or has_time
                if keep:
                    pieces.append(_Piece(it, score=1.0 + self._overlap(it.text)))
        else:
            heading_re = _PLACE_HEADING if aspect == "place" else _HOURS_HEADING
            line_re = ASPECT_LINES[aspect]
            for it in self.items:
                heading = it.chunk.heading_path[-1] if it.chunk.heading_path else ""
                if it.kind == "other" and heading_re.search(heading) and (aspect == "place" or line_re.search(it.text)):
                    pieces.append(_Piece(it, score=1.5 + self._overlap(it.text)))
            if not pieces and lines and not context:
                pieces = self._matching(line_re, exclude_kinds=("phone",), cap=3)
        if context:
            pieces = pieces[:1]
        if not pieces:
            return []
        if all(_ITEM_LABEL.match(p.item.text) for p in pieces):
            label = ""
        segment = self._lines_segment(aspect, label, pieces)
        segment.context = context
        if not context:
            segment.spoken_order = pieces  # the guide's order: "办理地点" before "社区协助"
        return [segment]

    # -- answers to no particular aspect ------------------------------------------------------------

    def _general(self, *, steps_first: bool) -> list[_Segment]:
        """The guide's key lines: steps, what to bring, where and when, one phone number.

        A guide that is not an errand (rules, notices) leads with the section retrieval matched
        best; a line that shares several words with the question is added (and spoken first)."""
        kinds = {it.kind for it in self.items}
        errand = bool(kinds & {"process", "materials", "conditions"})
        segments: list[_Segment] = []
        best_items = [it for it in self.items if self.best is not None and it.chunk.id == self.best.id]
        best_kind = best_items[0].kind if best_items else ""
        steps = self._steps_segment()
        steps_first = steps_first and bool(steps)  # "怎么办" of a guide without steps: its key lines
        focus = None if steps_first else self._focus()
        lead: _Segment | None = None
        has_steps = bool(kinds & {"process", "emergency_steps"})
        if not steps_first and best_kind in _LEAD_KINDS + (() if errand or has_steps else ("tips",)):
            lead = self._best_segment(best_items)
        elif (
            not errand and not steps_first and focus is None and "overview" in kinds and "emergency_steps" not in kinds
        ):
            overview = self._of_kind("overview")[0]
            lead = _Segment("lead", "", [_Piece(overview, 0, min(2, len(overview.spans)))])
        focus_segment = None
        if focus is not None and not (lead and any(p.item is focus.item for p in lead.pieces)):
            focus_segment = _Segment("focus", self._label_of(focus.item), [focus])
        if focus_segment and not errand:
            segments.append(focus_segment)
        if lead:
            segments.append(lead)
        lead_chunks = {p.item.chunk.id for s in segments for p in s.pieces}
        segments.extend(s for s in steps if not {p.item.chunk.id for p in s.pieces} & lead_chunks)
        if not errand and not segments:
            others = [
                it for it in self.items if it.kind == "other" and it.chunk.id != (self.best.id if self.best else -1)
            ]
            if others:
                segments.append(self._best_segment([it for it in others if it.chunk is others[0].chunk]))
        segments.extend(self._materials_segment(lines=False))
        where = self._place_segment("place_hours")
        if not where:
            where = self._place_segment("place", lines=False) + self._place_segment("hours", lines=False)
        segments.extend(where)
        if focus_segment and errand:
            segments.append(focus_segment)  # a tip never leads an errand's answer on the screen
        phones = self._of_kind("phone")
        if phones:
            segments.append(_Segment("phone", self.labels["phone"], [_Piece(phones[0])]))
        if len(segments) == 1 and segments[0].key == "lead" and len(segments[0].pieces) == 1:
            segments[0].pieces = [_Piece(segments[0].pieces[0].item)]  # a guide of one paragraph: all of it
        return self._fit_screen(segments)

    def _focus(self) -> _Piece | None:
        """The line sharing the most with the question (its words outside the title weigh most),
        when it shares at least :data:`_FOCUS_MIN`; a long line by its best sentence."""
        best: _Piece | None = None
        for it in self.items:
            if it.kind in ("phone", "questions") or it.intro:
                continue
            piece = _Piece(it, score=self._overlap(it.text))
            if len(it.spans) > 1 and spoken_length(it.text, self.lang) > (70 if self._zh else 40):
                piece = max(
                    (_Piece(it, i, i + 1, score=self._overlap(it.text[a:b])) for i, (a, b) in enumerate(it.spans)),
                    key=lambda p: p.score,
                )
            if best is None or piece.score > best.score:
                best = piece
        return best if best is not None and best.score >= _FOCUS_MIN[self.lang] else None

    def _label_of(self, item: _Item) -> str:
        heading = item.chunk.heading_path[-1] if item.chunk.heading_path else ""
        if item.kind in ("other", "overview"):
            return heading if item.kind == "other" else ""
        return self.labels.get(item.kind, heading)

    def _best_segment(self, items: list[_Item]) -> _Segment:
        """A section's items as the lead of a general answer: all of them when short, else the two
        that share most with the question."""
        pieces = [_Piece(it, score=self._overlap(it.text)) for it in items if not it.intro]
        total = sum(spoken_length(p.text, self.lang) for p in pieces)
        if total > GENERAL_SCREEN[self.lang] // 2 and any(p.score for p in pieces):
            top = sorted(pieces, key=lambda p: (-p.score, p.item.idx))[:2]
            pieces = [p for p in pieces if p in top]
        ranked = sorted(pieces, key=lambda p: (-p.score, p.item.idx))
        return _Segment("lead", self._label_of(items[0]), pieces, spoken_order=ranked)

    def _fit_screen(self, segments: list[_Segment]) -> list[_Segment]:
        """Leave out whole late segments (the phone line, then the hours) while the general answer is
        over :data:`GENERAL_SCREEN`; steps, what to bring and the lead stay."""
        limit = GENERAL_SCREEN[self.lang]

        def size(segs: list[_Segment]) -> int:
            return sum(spoken_length(p.text, self.lang) for s in segs for p in s.pieces)

        for key in ("phone", "hours"):
            if size(segments) <= limit:
                break
            segments = [s for s in segments if s.key != key]
        return segments

    # -- the spoken form ------------------------------------------------------------------------------

    def _spoken_selection(
        self, segments: list[_Segment], *, specific: bool, budget: int
    ) -> tuple[list[_Segment], bool]:
        """The segments cut down to ``budget`` for speech.

        Whole pieces, most relevant first, one from each segment in turn; a piece that does not
        fit is said by its leading whole sentences when they fit, else left out. The first piece
        is always said (by its first sentence at least). Context added for the screen (a place
        line after a materials answer) and, in a general answer, the phone line are not said.

        Returns:
            (the spoken segments, True when they say everything the screen does).
        """
        core = [s for s in segments if not s.context and (specific or s.key != "phone")] or segments
        if not specific:
            # General answers: a line matching the question, the first step, where, what to bring.
            order = {"focus": -1, "process": 1, "emergency_steps": 1, "place_hours": 2, "place": 2, "materials": 3}
            order["hours"] = 4
            core = sorted(core, key=lambda s: order.get(s.key, 0))
        queues = [[p for p in s.ranked() if not p.item.intro] for s in core]
        chosen: dict[int, list[_Piece]] = {}
        closed: set[int] = set()  # segments whose next piece did not fit: a list or steps is not skipped through
        used = 0
        rounds = max((len(q) for q in queues), default=0)
        for r in range(rounds):
            for si, queue in enumerate(queues):
                if r >= len(queue) or si in closed:
                    continue
                piece = queue[r]
                if not chosen:
                    piece = self._first_piece(core[si], queue, r, budget)
                    queue[r] = piece
                cost = self._spoken_cost(core[si], piece, si in chosen)
                if used + cost > budget and chosen:
                    # A line found by what it says may be said by its sentences that say it.
                    if piece.pattern is not None:
                        piece = self._fit_piece(core[si], piece, budget - used, label_paid=si in chosen)
                        cost = self._spoken_cost(core[si], piece, si in chosen)
                    if used + cost > budget:
                        if piece.pattern is None:
                            closed.add(si)
                        continue
                chosen.setdefault(si, []).append(piece)
                used += cost
        out: list[_Segment] = []
        for si, seg in enumerate(core):
            if si in chosen:
                pieces = chosen[si]  # lines most relevant first; lists and steps in the guide's order
                if seg.steps or seg.is_list:
                    pieces = sorted(pieces, key=lambda p: (p.item.idx, p.first))
                partial = seg.is_list and len(pieces) < len(queues[si])
                out.append(_Segment(seg.key, seg.label, pieces, steps=seg.steps, is_list=partial))
        said = {p.key() for s in out for p in s.pieces}
        everything = {p.key() for s in segments for p in s.pieces if not p.item.intro}
        return out, everything <= said

    def _first_piece(self, segment: _Segment, queue: list[_Piece], r: int, budget: int) -> _Piece:
        """What to say first: the top piece, or when it is too long a single sentence, the next one
        (nearly as relevant) that fits, or the top piece by its leading sentences."""
        piece = queue[r]
        if self._spoken_cost(segment, piece, False) <= budget:
            return piece
        if piece.n_sentences == 1 and not segment.steps:
            for other in queue[r + 1 : r + 3]:
                if self._spoken_cost(segment, other, False) <= budget and other.score >= 0.6 * piece.score:
                    queue.remove(other)
                    queue.insert(r + 1, piece)
                    return other
        return self._fit_piece(segment, piece, budget)

    def _spoken_cost(self, segment: _Segment, piece: _Piece, label_paid: bool) -> int:
        cost = spoken_length(piece.text, self.lang)
        if segment.steps:
            cost += 3 if self._zh else 2
        elif not label_paid and segment.label:
            cost += spoken_length(segment.label, self.lang)
        return cost

    def _fit_piece(self, segment: _Segment, piece: _Piece, budget: int, *, label_paid: bool = False) -> _Piece:
        """``piece`` by as many leading whole sentences as fit ``budget``; a line found by what it
        says keeps a sentence that says it. When nothing fits, the shortest such part."""
        fallback = piece
        for n in range(piece.n_sentences, 0, -1):
            part = piece if n == piece.n_sentences else piece.prefix(n)
            if piece.pattern is not None and not piece.pattern.search(part.text):
                break
            fallback = part
            if self._spoken_cost(segment, part, label_paid) <= budget:
                return part
        return fallback

    # -- writing ---------------------------------------------------------------------------------------

    def _render(self, segments: Sequence[_Segment], *, spoken: bool) -> str:
        parts = [self._render_segment(s, spoken=spoken) for s in segments if s.pieces]
        return ("" if self._zh else " ").join(p for p in parts if p)

    def _render_segment(self, segment: _Segment, *, spoken: bool) -> str:
        zh = self._zh
        if segment.steps:
            out = []
            for p in segment.pieces:
                core = _core(p.text, self.lang)
                if spoken:
                    n = p.number or 1
                    head = f"第{_zh_number(n)}步：" if zh else f"Step {n}: "
                else:
                    head = f"{p.number}. "
                out.append(head + _capitalise(core, self.lang) + _end(core, self.lang))
            body = ("" if zh else " ").join(out)
            if spoken:
                return body
            return f"{segment.label}：{body}" if zh else f"{segment.label}: {body}"
        body = ""
        pieces = segment.pieces
        for i, p in enumerate(pieces):
            core = _core(p.text, self.lang)
            if i == 0:
                body = core if segment.label or zh else _capitalise(core, self.lang)
                continue
            prev = pieces[i - 1]
            if prev.item.intro:
                body += core if zh else " " + core
            elif zh:
                body += "；" + core
            elif _is_sentence(prev.text) or _is_sentence(p.text):
                body += _end(body, self.lang) + " " + _capitalise(core, self.lang)
            else:
                body += "; " + core
        label = segment.label
        whose = all(_CONDITIONAL.match(p.item.text) for p in pieces)  # "代办的：…" says whose items they are
        if spoken and segment.key == "materials":
            # The guide's own lead-in ("申请调解时请带：") is not said: say ours.
            label = "" if whose else label or self.labels["materials"]
        if spoken and segment.is_list and zh and not whose and not body.endswith("等"):
            body += "等"
        if label and pieces[0].text.lower().startswith(label.lower()):
            label = ""  # "Bring: Bring your passport…"
        body += _end(body, self.lang)
        if label:
            return f"{label}：{body}" if zh else f"{label}: {body}"
        return body


def _dedupe(segments: list[_Segment]) -> list[_Segment]:
    """Each piece quoted once (the first segment that has it keeps it); empty segments dropped."""
    seen: set[int] = set()
    out: list[_Segment] = []
    keys: set[str] = set()
    for seg in segments:
        if seg.key in keys and seg.key not in ("other",):
            continue
        pieces = [p for p in seg.pieces if p.item.idx not in seen]
        if not [p for p in pieces if not p.item.intro]:
            continue
        seen.update(p.item.idx for p in pieces)
        kept = {p.key() for p in pieces}
        order = [p for p in seg.spoken_order if p.key() in kept]
        out.append(replace(seg, pieces=pieces, spoken_order=order))
        keys.add(seg.key)
    return out


def _core(text: str, lang: str) -> str:
    """A piece without its closing punctuation (a colon that introduces what follows is kept)."""
    text = text.strip()
    if text.endswith(("：", ":")):
        return text
    return text.rstrip("。；;，,、 " if lang == "zh" else ".;, ")


def _end(text: str, lang: str) -> str:
    """The full stop ``text`` needs: none when it already ends a sentence (?!) or with a colon."""
    if not text or text.endswith(("。", "！", "？", "!", "?", "：", ":")) or (lang == "en" and text.endswith(".")):
        return ""
    return "。" if lang == "zh" else "."


def _capitalise(text: str, lang: str) -> str:
    if lang == "en" and text[:1].islower():
        return text[0].upper() + text[1:]
    return text


def _is_sentence(text: str) -> bool:
    return text.rstrip().endswith((".", "!", "?"))


def _zh_number(n: int) -> str:
    if 1 <= n <= 10:
        return _ZH_NUMERALS[n - 1]
    if n < 20:
        return "十" + _ZH_NUMERALS[n - 11]
    return str(n)


def _terms(question: str, title: str = "") -> dict[str, float]:
    """The question's content words with weights: Chinese bigrams (common question words left
    out) and lower-cased English word stems (Porter2, :func:`~appliance.knowledge.text.stem`) and
    numbers; words of the guide's
    ``title`` weigh a quarter, since every line of the guide is about them."""
    found: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+", question):
        found.extend(run[i : i + 2] for i in range(len(run) - 1) if run[i : i + 2] not in _ZH_STOP_BIGRAMS)
    for word in re.findall(r"[A-Za-z]+|\d+", question.lower()):
        if word.isdigit() or (len(word) >= 3 and word not in _EN_STOP):
            found.append("~" + stem(word))
    in_title = _term_set(title)
    return {t: (0.25 if t in in_title else 1.0) for t in found}


@lru_cache(maxsize=8192)
def _term_set(text: str) -> frozenset[str]:
    """The terms a line offers: English word stems (``~`` + Porter2 stem) and character bigrams.
    Cached: the same guide lines are read for every question."""
    words = {"~" + stem(w) for w in re.findall(r"[A-Za-z]+|\d+", text.lower())}
    return frozenset(words | {text[i : i + 2] for i in range(len(text) - 1)})


def _idf_weighted(terms: dict[str, float], items: Sequence[_Item]) -> dict[str, float]:
    """``terms`` weighted by how rare they are among the guide's lines (inverse document
    frequency, ln((N+1)/(df+0.5)) / ln(N+1)); terms in no line are dropped."""
    n = len(items)
    sets = [_term_set(it.text) for it in items]
    out: dict[str, float] = {}
    for term, weight in terms.items():
        df = sum(1 for ts in sets if term in ts)
        if df:
            out[term] = weight * math.log((n + 1) / (df + 0.5)) / math.log(n + 1)
    return out


def _overlap(terms: dict[str, float], text: str) -> float:
    """The weight of the question's terms that occur in ``text``."""
    if not terms:
        return 0.0
    present = _term_set(text)
    return sum(w for t, w in terms.items() if t in present)
