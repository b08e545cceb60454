"""Messages to staff: the outbox, and the channels that carry it to the phones of the staff on duty.

The data flow, one small module per step:

* :mod:`~appliance.notify.message` — what a message says (:class:`StaffMessage`): kiosk and place,
  time, kind, what the resident said (redacted), what the kiosk told them, what staff should do;
  nothing more. Built from an answered turn by :class:`MessageComposer`.
* :mod:`~appliance.notify.outbox` — the ``outbox`` table, in the journal's SQLite file, written in
  the same transaction as the journal row it reports (:class:`Outbox`): one row per message and
  channel, with its idempotency key, priority and delivery state.
* :mod:`~appliance.notify.channels` — WeCom group robot, DingTalk custom robot, a generic HTTPS
  webhook (HMAC-signed) and MQTT: each sends one message or raises :class:`DeliveryError` saying
  whether to retry.
* :mod:`~appliance.notify.sender` — :class:`OutboxSender`: one thread drains the outbox, emergencies
  first, with retries (exponential backoff, full jitter), per-channel rate limits, a digest when a
  backlog builds up, and the daily summary (:mod:`~appliance.notify.summary`).

Nothing is lost across restarts: a row is marked sent only after its channel accepted it, so a
crash between the two sends it again, with the same key.
"""

from appliance.notify.message import MessageComposer, MessageKind, StaffMessage

__all__ = ["MessageComposer", "MessageKind", "StaffMessage"]
