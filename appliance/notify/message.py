"""What a message to staff says, and how it reads as plain text and as Markdown.

Minimum data (最小必要): the kiosk and its place, the time, the kind (emergency category, handoff
reason), what the resident said with personal data redacted (an emergency keeps the address the
resident named: the duty worker must find it), what the kiosk told them, and what staff should
do. A resident's callback number never leaves the device: the message says that one was left and
its last four digits, and the staff screen shows it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from appliance.compat import StrEnum

if TYPE_CHECKING:
    from appliance.answer.types import Answer
    from appliance.triage import Triage

__all__ = ["MessageComposer", "MessageKind", "Priority", "StaffMessage", "clip"]

#: Longest resident's words and kiosk reply put in a message, characters.
SAID_CHARS = 300
TOLD_CHARS = 160


class MessageKind(StrEnum):
    """What a message is about; a channel's ``kinds`` setting chooses among the first three."""

    EMERGENCY = "emergency"
    HANDOFF = "handoff"
    SUMMARY = "summary"
    DIGEST = "digest"  # several waiting messages sent as one (never emergencies)


class Priority(IntEnum):
    """Sending order: lower first. Emergencies jump every queue."""

    EMERGENCY = 0
    HANDOFF = 1
    SUMMARY = 2


def clip(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space become one space), cut to ``limit`` characters
    with "…" when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class StaffMessage:
    """One message to staff.

    Attributes:
        kind: what it is about.
        title: the headline ("【紧急】电梯困人").
        kiosk: the kiosk's name (``[notify] kiosk_name``, default the community's name).
        place: where the kiosk stands (the site's address).
        ts: when it happened, local time, ISO 8601 to the second.
        category: the emergency category or handoff id ("lift_entrapment", "complaint"); "" otherwise.
        said: what the resident said, redacted.
        told: what the kiosk told them, clipped.
        action: what staff should do.
        lines: further lines (a summary's figures, a digest's messages).
        priority: sending order (:class:`Priority`).
    """

    kind: MessageKind
    title: str
    kiosk: str
    place: str
    ts: str
    category: str = ""
    said: str = ""
    told: str = ""
    action: str = ""
    lines: tuple[str, ...] = ()
    priority: int = Priority.HANDOFF

    def to_json(self) -> str:
        """The message as a JSON object (the outbox's ``body`` column, the webhook's payload)."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> StaffMessage:
        """The inverse of :meth:`to_json`.

        Raises:
            ValueError: not a message's JSON.
        """
        try:
            data = json.loads(text)
            data["kind"] = MessageKind(data["kind"])
            data["lines"] = tuple(data.get("lines", ()))
            return cls(**data)
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a staff message: {exc}") from exc

    def _fields(self) -> list[tuple[str, str]]:
        rows = [("终端", f"{self.kiosk}（{self.place}）" if self.place else self.kiosk), ("时间", self.ts)]
        if self.said:
            rows.append(("居民说", self.said))
        if self.told:
            rows.append(("终端答复", self.told))
        if self.action:
            rows.append(("请您", self.action))
        return rows

    def text(self, mentions: Sequence[str] = ()) -> str:
        """Plain text: the title, one "label：value" line per field, the further lines, then
        "@mobile" for each of ``mentions`` (DingTalk shows a mention only when the text has it)."""
        out = [self.title, *(f"{k}：{v}" for k, v in self._fields()), *self.lines]
        if mentions:
            out.append(" ".join(f"@{m}" for m in mentions))
        return "\n".join(out)

    def markdown(self, mentions: Sequence[str] = ()) -> str:
        """Markdown for the robots' ``markdown`` messages: a bold title, the fields quoted, the
        further lines as a list, then "@mobile" for each of ``mentions``."""
        head = f"**{self.title}**"
        out = [head, *(f"> {k}：{_md(v)}" for k, v in self._fields())]
        out += [f"- {_md(line)}" for line in self.lines]
        if mentions:
            out.append(" ".join(f"@{m}" for m in mentions))
        return "\n".join(out)


def _md(text: str) -> str:
    """``text`` with the Markdown characters that would change its look escaped."""
    for ch in "\\*_`[]<>#":
        text = text.replace(ch, "\\" + ch)
    return text


def _callback_tail(number: str | None) -> str:
    return f"居民留了回电号码（尾号{number[-4:]}），完整号码在终端工作台上。" if number else ""


@dataclass(frozen=True)
class MessageComposer:
    """Builds the message for an answered turn: emergencies and handoffs, nothing else.

    Args:
        kiosk: the kiosk's name; place: its address.
        triage: the rules, for the emergency categories' labels and ``staff_action``.
        duty_phone: said in a handoff's action.
        now: the clock, for tests (returns an aware datetime).
    """

    kiosk: str
    place: str
    triage: Triage
    duty_phone: str = ""
    now: Callable[[], dt.datetime] | None = field(default=None, compare=False)

    def _ts(self) -> str:
        moment = self.now() if self.now is not None else dt.datetime.now().astimezone()
        return moment.isoformat(timespec="seconds")

    def for_answer(self, answer: Answer, said: str, callback: str | None = None) -> StaffMessage | None:
        """The message for ``answer``, or None when staff need not hear of it.

        Args:
            said: the resident's words, already redacted (an emergency's keeping the address).
            callback: the callback number kept with a handoff (only its last four digits go out).
        """
        if answer.mode == "emergency":
            checked = answer.checked_category
            category = self.triage.category(checked or answer.reason or "")
            title = f"【紧急】{category.label}" + ("（待确认：终端正在询问居民是否有危险）" if checked else "")
            action = category.staff_action or "请立即到场查看，并确认居民已拨打相应的紧急电话。"
            return StaffMessage(
                MessageKind.EMERGENCY,
                title,
                self.kiosk,
                self.place,
                self._ts(),
                category.id,
                clip(said, SAID_CHARS),
                clip(answer.answer, TOLD_CHARS),
                action,
                priority=Priority.EMERGENCY,
            )
        if answer.mode == "handoff":
            rules = {h.id: h.reason for h in self.triage.handoffs}
            reason = rules.get(answer.reason or "", answer.reason or "") or "需要工作人员处理"
            action = "请尽快联系这位居民跟进。" + _callback_tail(callback)
            return StaffMessage(
                MessageKind.HANDOFF,
                f"【转人工】{reason}",
                self.kiosk,
                self.place,
                self._ts(),
                answer.reason or "",
                clip(said, SAID_CHARS),
                clip(answer.answer, TOLD_CHARS),
                action,
                priority=Priority.HANDOFF,
            )
        return None
