"""Answers in the terminal: the mode as soon as it is decided, the text as it is released, then
the sources and timings (``kiosk ask``, ``kiosk run --text``, the voice loop's ``--no-ui`` output)."""

from __future__ import annotations

import sys

from rich.markup import escape

from appliance.answer.types import Answer
from appliance.cli.common import out
from appliance.knowledge.text import detect_lang

MODE_LABELS = {
    "zh": {"emergency": "紧急情况", "handoff": "转工作人员", "no_answer": "没有找到答案", "answer": ""},
    "en": {"emergency": "EMERGENCY", "handoff": "handed to staff", "no_answer": "no answer found", "answer": ""},
}


def print_sources(answer: Answer) -> None:
    """The answer's sources: title, section and file, one guide per line."""
    label = "Sources" if answer.lang == "en" else "来源"
    if answer.sources:
        seen: dict[tuple[str, str], None] = {}
        for s in answer.sources:
            seen.setdefault((s.title, s.section), None)
        out.print(f"[dim]{label}:[/]", markup=True)
        for title, section in seen:
            where = f" — {section}" if section and section != title else ""
            src = next(s.source for s in answer.sources if s.title == title)
            out.print(f"  《{title}》{where}  [dim]{src}[/]", markup=True)


def _print_footer(answer: Answer) -> None:
    """Sources (title, section, file) and the mode, generator and timings, after the answer text."""
    print_sources(answer)
    timings = " ".join(f"{k}={v:.0f}ms" for k, v in answer.timings_ms.items())
    out.print(f"[dim]{answer.mode}/{answer.generator} {timings}[/]", markup=True)


def _print_mode(mode: str, lang: str) -> None:
    tag = MODE_LABELS["en" if lang == "en" else "zh"].get(mode, "")
    if tag:
        colour = "bold red" if mode == "emergency" else "yellow"
        out.print(f"[{colour}][{tag}][/]", markup=True)


def stream_answer(engine, question: str, session=None, on_event=None, turn_id: int = 0) -> Answer:
    """Ask, printing the mode as soon as it is decided and the text as it is released.

    With a session (``kiosk run --text``), follow-ups are resolved against the previous topic.
    ``on_event`` receives the conversation's ModeDecided and Speaking events (the robot's body).
    """
    from appliance.events import ModeDecided, Speaking

    lang = detect_lang(question)
    streamed = False
    emit = on_event or (lambda event: None)

    def show(text: str) -> None:
        nonlocal streamed
        streamed = True
        emit(Speaking(turn_id, text))
        sys.stdout.write(text)
        sys.stdout.flush()

    def on_mode(mode: str) -> None:
        emit(ModeDecided(turn_id, mode))
        _print_mode(mode, lang)

    if session is None:
        answer = engine.ask(question, on_text=show, on_mode=on_mode)
    else:
        answer, query = session.ask(question, on_text=show, on_mode=on_mode)
        session.add(answer, answer.answer)
        if query and answer.generator != "scripted":  # a greeting or an emergency searched nothing
            out.print(f"[dim](follow-up, searched as: {escape(query)})[/]", markup=True)
    if streamed:
        sys.stdout.write("\n")
    _print_footer(answer)
    return answer
