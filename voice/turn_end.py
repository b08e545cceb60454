"""Is the resident's thought finished? A model-free end-of-turn judge over the transcript so far.

The endpointer (:mod:`voice.endpoint`) ends a turn after a fixed silence, but people, elderly
residents above all, pause in the middle of a sentence: "我想问……（1 秒）……我在冰海星区有房".
Answering "我想问" helps no one. The field's learned detectors decide from the words (LiveKit's
turn detector: a small language model over the transcript) or from the audio's prosody (pipecat's
smart-turn); this is the rule-based floor they are measured against: a transcript that *ends* in
a filler, a connective or a bare lead-in ("我想问", "那个", "然后", "还有", "and", "so", "um",
"I want to ask"; a lone "嗯" or "呃") is incomplete, as is one that ends in a comma or an ellipsis (Whisper writes
those where the speaker's voice stayed up). Everything else counts as complete: the judge only
ever delays a turn whose end is evidently unfinished, so a complete question is never held.
"""

from __future__ import annotations

import re

#: Chinese endings that leave the thought open: fillers, connectives and lead-ins (the question
#: is still to come). Matched at the end, after trailing punctuation is removed.
ZH_OPEN_ENDINGS = (
    "我想问一下",
    "我想问问",
    "我想问",
    "想问一下",
    "我问一下",
    "问一下",
    "请问一下",
    "请问",
    "我想咨询一下",
    "我想咨询",
    "咨询一下",
    "我想了解一下",
    "我想了解",
    "我想办",
    "我想",
    "我要",
    "那个",
    "这个",
    "就是",
    "就是说",
    "然后",
    "还有",
    "而且",
    "但是",
    "可是",
    "不过",
    "因为",
    "所以",
    "如果",
    "要是",
    "或者",
    "还是",
    "比如",
    "比如说",
    "的话",
    "关于",
    "以及",
)

#: English endings that leave the thought open (lower case, whole words).
EN_OPEN_ENDINGS = (
    "and",
    "so",
    "but",
    "or",
    "because",
    "if",
    "um",
    "uh",
    "er",
    "erm",
    "hmm",
    "the",
    "a",
    "an",
    "to",
    "of",
    "with",
    "about",
    "my",
    "your",
    "i want to ask",
    "i'd like to ask",
    "i would like to ask",
    "i want to know",
    "i'd like to know",
    "can you tell me",
    "i want to",
    "i need to",
    "i'd like to",
    "i have a question",
    "i wanted to ask",
)

#: Fillers that are a word of their own only when they stand alone or after a pause mark ("额"
#: also ends 金额, "啊" ends many a question: "在哪里啊").
ZH_FILLERS = ("嗯", "呃", "额", "唔", "啊", "哦", "那")

# Longest first, so that "我想问一下" is found before "问一下" and "i want to ask" before "to".
_ZH_BY_LENGTH = tuple(sorted(ZH_OPEN_ENDINGS, key=len, reverse=True))
_EN_BY_LENGTH = tuple(sorted(EN_OPEN_ENDINGS, key=len, reverse=True))

_OPEN_PUNCT = ("，", ",", "、", "…", "...", "—", "-", "：", ":")
_TRAILING = re.compile(r"[\s。．.！!？?；;\"'“”‘’）)」』]+$")
_EN_WORDS = re.compile(r"[a-z']+")


def open_ending(text: str) -> str | None:
    """Why the transcript ``text`` looks unfinished, or None when it may be a whole turn.

    Args:
        text: what ASR heard so far (Chinese or English, any punctuation).

    Returns:
        the open ending found ("我想问", "and", "，"), or None. An empty text is not open (there
        is nothing to wait for).
    """
    stripped = text.strip()
    if not stripped:
        return None
    for mark in _OPEN_PUNCT:  # a pause mark where the sentence should end: the voice stayed up
        if stripped.endswith(mark):
            return mark
    core = _TRAILING.sub("", stripped)
    if not core:
        return None
    if core[-1].isascii():
        words = _EN_WORDS.findall(core.lower())
        tail = " ".join(words[-5:])
        for ending in _EN_BY_LENGTH:
            if tail == ending or tail.endswith(" " + ending):
                return ending
        return None
    for ending in _ZH_BY_LENGTH:
        if core.endswith(ending):
            return ending
    if core[-1] in ZH_FILLERS and (len(core) == 1 or not core[-2].isalnum()):
        return core[-1]
    return None
