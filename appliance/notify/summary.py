"""The daily summary for staff: what the kiosk answered, refused and handed over today, and the
questions the knowledge base could not answer (redacted, as the journal keeps them)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.notify.message import MessageKind, Priority, StaffMessage, clip

if TYPE_CHECKING:
    from appliance.journal import Journal

__all__ = ["DailySummary"]

#: Unanswered questions listed in a summary at most.
GAPS_LISTED = 8


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


class DailySummary:
    """Queues one summary a day, once the local time has passed ``at`` (the sender's housekeeping).

    Args:
        journal: where the day's turns are, and whose outbox takes the summary.
        at: "HH:MM", local time.
        clock: seconds since the epoch.

    Each summary's key is ``<kiosk id>/summary/<date>``: a day gets one, however many processes
    or restarts try.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        kiosk_id: str,
        kiosk: str,
        place: str,
        at: str,
        clock: Callable[[], float] = time.time,
    ):
        self.journal = journal
        self.kiosk_id, self.kiosk, self.place = kiosk_id, kiosk, place
        hour, minute = (int(x) for x in at.split(":"))
        self.at = dt.time(hour, minute)
        self.clock = clock

    def compose(self, day: dt.date, until: dt.datetime) -> StaffMessage:
        """The summary of ``day`` (local) up to ``until``."""
        start = dt.datetime.combine(day, dt.time(0, 0)).astimezone()
        since, upto = _utc(start), _utc(until)
        n = self.journal.tally(since, upto)
        total = sum(v for k, v in n.items() if k != "open_handoffs")
        lines = [
            f"共 {total} 次提问：答复 {n.get('answer', 0)}，请居民确认 {n.get('clarify', 0)}，"
            f"未能答复 {n.get('no_answer', 0)}，转人工 {n.get('handoff', 0)}（未办结 {n['open_handoffs']}），"
            f"紧急情况 {n.get('emergency', 0)}"
        ]
        gaps = self.journal.gap_questions(since, upto, GAPS_LISTED)
        if gaps:
            lines.append("知识库未能答复的问题：")
            lines += [f"{i}. {clip(q, 60)}" for i, q in enumerate(gaps, 1)]
        return StaffMessage(
            MessageKind.SUMMARY,
            f"【日报】{day.isoformat()} 终端服务情况",
            self.kiosk,
            self.place,
            until.isoformat(timespec="seconds"),
            action="未能答复的问题可补充进知识库；未办结的转人工事项请在终端工作台跟进。",
            lines=tuple(lines),
            priority=Priority.SUMMARY,
        )

    def __call__(self) -> bool:
        """Queue today's summary if its time has come and it is not queued yet; True when queued."""
        now = dt.datetime.fromtimestamp(self.clock()).astimezone()
        if now.time() < self.at:
            return False
        key = f"{self.kiosk_id}/summary/{now.date().isoformat()}"
        outbox = self.journal.outbox
        if not outbox.routes or outbox.has_key(key):
            return False
        message = self.compose(now.date(), now)
        with outbox.lock, outbox.conn:
            added = outbox.queue(message, key)
        if added:
            outbox.queued()
        return bool(added)
