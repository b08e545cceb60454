"""The channels a message to staff travels by: each sends one message or raises :class:`DeliveryError`.

* :class:`WeComRobot` — a WeCom (企业微信) group robot webhook: ``POST {url}?key=KEY`` with a
  ``markdown`` message, or a ``text`` one when phones are to be @-mentioned
  (``mentioned_mobile_list`` exists for ``text`` only). Limits (WeCom's group-robot document):
  20 messages a minute per robot, text 2,048 bytes, markdown 4,096 bytes.
* :class:`DingTalkRobot` — a DingTalk (钉钉) custom robot with signing: ``POST
  {url}?access_token=T&timestamp=MS&sign=S`` where S is the URL-encoded Base64 of
  HMAC-SHA256(secret, "MS\\nsecret") (DingTalk's custom-robot security settings); ``markdown``
  with ``at.atMobiles``. 20 messages a minute.
* :class:`Webhook` — a generic HTTPS endpoint: the message as JSON, with ``Idempotency-Key``,
  ``X-Kiosk-Timestamp`` and ``X-Kiosk-Signature: sha256=HEX`` (HMAC-SHA256 of "TIMESTAMP." +
  body, the scheme Stripe's webhooks use, so a receiver can refuse replays and forgeries).
* :class:`MqttChannel` — MQTT 3.1.1 through paho-mqtt: QoS 1, a persistent session
  (``clean_session`` false, the kiosk's id as client id), ``TOPIC/presence`` retained "online",
  with "offline" as the last will.

Both robots answer HTTP 200 with an ``errcode`` when they refuse: 0 is accepted, WeCom's 45009
and DingTalk's 130101 are the rate limit (retried after a minute), -1 is "system busy"
(retried), anything else is a refusal that retrying will not mend (a wrong key, a blocked IP,
a keyword the robot requires): the row fails and shows on the staff screen.

Secrets live in a TOML file per channel (``secret_file``), readable by the kiosk's user only:
``key`` (WeCom), ``access_token`` and ``secret`` (DingTalk), ``secret`` (webhook), ``username``
and ``password`` (MQTT). They never appear in logs or in a row's error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from appliance.compat import tomllib
from appliance.notify.message import MessageKind, StaffMessage

if TYPE_CHECKING:
    from appliance.config import NotifyChannelSettings, NotifySettings

__all__ = [
    "Channel",
    "ChannelConfigError",
    "DeliveryError",
    "DingTalkRobot",
    "MqttChannel",
    "WeComRobot",
    "Webhook",
    "build_channels",
    "read_secrets",
]

log = logging.getLogger(__name__)

#: Longest reply body read from an endpoint, bytes.
MAX_REPLY_BYTES = 64 * 1024
#: WeCom's content limits, bytes of UTF-8.
WECOM_TEXT_BYTES = 2048
WECOM_MARKDOWN_BYTES = 4096
#: DingTalk's markdown limit is not published as a byte count; 4,000 characters is safe.
DINGTALK_MARKDOWN_CHARS = 4000
#: The robots' rate-limit pause, seconds: their limit is counted per minute.
RATE_LIMIT_WAIT_S = 60.0


class ChannelConfigError(RuntimeError):
    """A channel cannot be built: a missing or too-open secret file, a missing key, a bad URL."""


class DeliveryError(RuntimeError):
    """A message was not delivered.

    Attributes:
        retry: True when trying again may succeed (network down, timeout, HTTP 5xx or 429,
            "system busy", the rate limit); False when the endpoint refused it for good.
        wait_s: how long to wait before the next try, when the endpoint said (rate limit,
            ``Retry-After``); None: the sender's backoff decides.
        rate_limited: the endpoint's rate limit was hit (the attempt does not count against the
            message, and the whole channel pauses).
    """

    def __init__(self, message: str, *, retry: bool, wait_s: float | None = None, rate_limited: bool = False):
        super().__init__(message)
        self.retry = retry
        self.wait_s = wait_s
        self.rate_limited = rate_limited


class Channel(Protocol):
    """One way to reach staff. ``send`` blocks for at most about the channel's timeout."""

    name: str

    def send(self, message: StaffMessage, key: str) -> None:
        """Deliver ``message``; ``key`` is its idempotency key.

        Raises:
            DeliveryError: not delivered.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def read_secrets(path: Path | None, needed: Sequence[str], channel: str) -> dict[str, str]:
    """The ``needed`` string keys of a channel's TOML secret file.

    The file must be a regular file that only its owner may read (mode 0600 or 0400): a secret
    others can read is a secret no longer.

    Raises:
        ChannelConfigError: no file named, missing, not private, not TOML, or a key missing.
    """
    if not needed:
        return {}
    if path is None:
        raise ChannelConfigError(f"notify channel {channel!r}: set secret_file (a TOML file with {', '.join(needed)})")
    try:
        st = path.stat()
    except OSError as exc:
        raise ChannelConfigError(f"notify channel {channel!r}: secret file {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ChannelConfigError(f"notify channel {channel!r}: secret file {path} is not a regular file")
    if st.st_mode & 0o077:
        raise ChannelConfigError(
            f"notify channel {channel!r}: secret file {path} can be read by others "
            f"(mode {stat.S_IMODE(st.st_mode):o}); run: chmod 600 {path}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ChannelConfigError(f"notify channel {channel!r}: secret file {path}: {exc}") from exc
    missing = [k for k in needed if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise ChannelConfigError(f"notify channel {channel!r}: secret file {path} lacks {', '.join(missing)}")
    return {k: data[k] for k in needed}


def _fit(text: str, max_bytes: int) -> str:
    """``text`` cut (with "…") so that its UTF-8 encoding fits ``max_bytes``."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 3].decode("utf-8", errors="ignore") + "…"


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float, where: str) -> bytes:
    """POST ``body``; the reply's body (up to :data:`MAX_REPLY_BYTES`) for a 2xx reply.

    Raises:
        DeliveryError: no connection, a timeout, or a non-2xx status (5xx and 429 retryable).
    """
    req = urllib.request.Request(url, data=body, method="POST", headers={"User-Agent": "kiosk", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (the URL is configured)
            return resp.read(MAX_REPLY_BYTES)
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code in (408, 429)
        wait = None
        if exc.code == 429:
            try:
                wait = float(exc.headers.get("Retry-After", RATE_LIMIT_WAIT_S))
            except (TypeError, ValueError):
                wait = RATE_LIMIT_WAIT_S
        raise DeliveryError(
            f"{where}: HTTP {exc.code}", retry=retry, wait_s=wait, rate_limited=exc.code == 429
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{where}: {reason}", retry=True) from None


def _errcode(reply: bytes, where: str, rate_codes: frozenset[int]) -> None:
    """Check a robot's ``{"errcode": 0, "errmsg": "ok"}``.

    Raises:
        DeliveryError: any other errcode (rate limit and -1 retryable), or a reply that is not JSON.
    """
    try:
        data = json.loads(reply.decode("utf-8"))
        code = int(data.get("errcode", -999))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError):
        raise DeliveryError(f"{where}: reply is not the robot's JSON", retry=True) from None
    if code == 0:
        return
    msg = str(data.get("errmsg", ""))[:120]
    if code in rate_codes:
        raise DeliveryError(
            f"{where}: rate limit (errcode {code})", retry=True, wait_s=RATE_LIMIT_WAIT_S, rate_limited=True
        )
    raise DeliveryError(f"{where}: errcode {code}: {msg}", retry=code == -1)


class WeComRobot:
    """A WeCom group robot (see the module docstring).

    Args:
        url: the webhook address without the key (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send``).
        key: the robot's key (from the secret file).
        mentions: mobile numbers @-mentioned on emergencies.
    """

    RATE_CODES = frozenset({45009})

    def __init__(self, name: str, url: str, key: str, mentions: Sequence[str] = (), timeout_s: float = 5.0):
        self.name = name
        self._url = f"{url}?{urllib.parse.urlencode({'key': key})}"
        self.mentions = list(mentions)
        self.timeout_s = timeout_s

    def payload(self, message: StaffMessage) -> dict[str, object]:
        """The JSON body: ``text`` with ``mentioned_mobile_list`` for an emergency when mobiles are
        configured, else ``markdown``."""
        if message.kind is MessageKind.EMERGENCY and self.mentions:
            text = _fit(message.text(), WECOM_TEXT_BYTES)
            return {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": self.mentions}}
        return {"msgtype": "markdown", "markdown": {"content": _fit(message.markdown(), WECOM_MARKDOWN_BYTES)}}

    def send(self, message: StaffMessage, key: str) -> None:
        """POST the message (``key`` is not sent: the robot has no field for it).

        Raises:
            DeliveryError: see the module docstring.
        """
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        reply = _post(self._url, body, {"Content-Type": "application/json"}, self.timeout_s, "wecom")
        _errcode(reply, "wecom", self.RATE_CODES)

    def close(self) -> None:
        """Nothing to release."""


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: URL-encoded Base64 of HMAC-SHA256(secret, "TIMESTAMP\\nSECRET")."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


class DingTalkRobot:
    """A DingTalk custom robot with the signing security setting (see the module docstring)."""

    RATE_CODES = frozenset({130101})

    def __init__(
        self, name: str, url: str, token: str, secret: str, mentions: Sequence[str] = (), timeout_s: float = 5.0
    ):
        self.name = name
        self.url = url
        self._token = token
        self._secret = secret
        self.mentions = list(mentions)
        self.timeout_s = timeout_s

    def payload(self, message: StaffMessage) -> dict[str, object]:
        """The JSON body: ``markdown`` (the mentions also written in the text, where DingTalk
        looks for them) and ``at``."""
        mentions = self.mentions if message.kind is MessageKind.EMERGENCY else []
        text = message.markdown(mentions)
        if len(text) > DINGTALK_MARKDOWN_CHARS:
            text = text[: DINGTALK_MARKDOWN_CHARS - 1] + "…"
        return {
            "msgtype": "markdown",
            "markdown": {"title": message.title, "text": text},
            "at": {"atMobiles": mentions, "isAtAll": False},
        }

    def send(self, message: StaffMessage, key: str) -> None:
        """POST the message, signed with the current time.

        Raises:
            DeliveryError: see the module docstring.
        """
        ts = int(time.time() * 1000)
        query = (
            f"access_token={urllib.parse.quote_plus(self._token)}&timestamp={ts}&sign={dingtalk_sign(self._secret, ts)}"
        )
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        reply = _post(f"{self.url}?{query}", body, {"Content-Type": "application/json"}, self.timeout_s, "dingtalk")
        _errcode(reply, "dingtalk", self.RATE_CODES)

    def close(self) -> None:
        """Nothing to release."""


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=HEX``: HMAC-SHA256(secret, TIMESTAMP + "." + body)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Webhook:
    """A generic HTTPS webhook (see the module docstring). Any 2xx is accepted."""

    def __init__(self, name: str, url: str, secret: str, timeout_s: float = 5.0):
        self.name = name
        self.url = url
        self._secret = secret
        self.timeout_s = timeout_s

    def send(self, message: StaffMessage, key: str) -> None:
        """POST ``{"key", "kind", "priority", "message"}``.

        Raises:
            DeliveryError: see the module docstring.
        """
        body = json.dumps(
            {"key": key, "kind": message.kind.value, "priority": message.priority, "message": asdict(message)},
            ensure_ascii=False,
        ).encode("utf-8")
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Kiosk-Timestamp": ts,
            "X-Kiosk-Signature": webhook_signature(self._secret, ts, body),
        }
        _post(self.url, body, headers, self.timeout_s, "webhook")

    def close(self) -> None:
        """Nothing to release."""


class MqttChannel:
    """MQTT through paho-mqtt (see the module docstring).

    Args:
        url: ``mqtt://host[:1883]`` or ``mqtts://host[:8883]`` (TLS with the system's CAs).
        client_id: the kiosk's id: the broker keeps its session (QoS 1 messages in flight) across
            reconnections.
        topic: the prefix; messages go to ``TOPIC/<kind>``, presence to ``TOPIC/presence``.
    """

    def __init__(
        self,
        name: str,
        url: str,
        client_id: str,
        topic: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 5.0,
    ):
        import paho.mqtt.client as mqtt

        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ChannelConfigError(f"notify channel {name!r}: url must be mqtt://host[:port] or mqtts://host[:port]")
        self.name = name
        self.topic = topic.rstrip("/")
        self.timeout_s = timeout_s
        self._host = parts.hostname
        self._port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._connected = threading.Event()
        self._started = False
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        if parts.scheme == "mqtts":
            client.tls_set()
        if username:
            client.username_pw_set(username, password)
        client.will_set(f"{self.topic}/presence", "offline", qos=1, retain=True)
        client.connect_timeout = timeout_s
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001 (paho's signature)
        if not reason_code.is_failure:
            client.publish(f"{self.topic}/presence", "online", qos=1, retain=True)
            self._connected.set()
        else:
            log.warning("mqtt %s: connection refused: %s", self.name, reason_code)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._connected.clear()

    def _ensure_connected(self) -> None:
        if self._connected.is_set():
            return
        if not self._started:
            try:
                self._client.connect(self._host, self._port, keepalive=30)
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"mqtt: cannot connect to {self._host}:{self._port}: {exc}", retry=True) from None
            self._client.loop_start()  # reconnects by itself from now on
            self._started = True
        if not self._connected.wait(self.timeout_s):
            raise DeliveryError(f"mqtt: not connected to {self._host}:{self._port}", retry=True)

    def send(self, message: StaffMessage, key: str) -> None:
        """Publish ``{"key", "message"}`` with QoS 1 and wait for the broker's PUBACK.

        Raises:
            DeliveryError: not connected, or no PUBACK within the timeout (retryable).
        """
        self._ensure_connected()
        payload = json.dumps({"key": key, "message": asdict(message)}, ensure_ascii=False)
        info = self._client.publish(f"{self.topic}/{message.kind.value}", payload, qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"mqtt: {exc}", retry=True) from None
        if not info.is_published():
            raise DeliveryError("mqtt: no PUBACK from the broker in time", retry=True)

    def close(self) -> None:
        """Say "offline" and disconnect (a clean disconnect does not fire the last will)."""
        if self._started:
            if self._connected.is_set():
                self._client.publish(f"{self.topic}/presence", "offline", qos=1, retain=True).wait_for_publish(1.0)
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False


_SECRETS = {"wecom": ("key",), "dingtalk": ("access_token", "secret"), "webhook": ("secret",), "mqtt": ()}
_DEFAULT_URLS = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
    "dingtalk": "https://oapi.dingtalk.com/robot/send",
}


def build_channel(cfg: NotifyChannelSettings, kiosk_id: str) -> Channel:
    """One channel from its settings, its secrets read from ``secret_file``.

    Raises:
        ChannelConfigError: see :func:`read_secrets`; a webhook or MQTT channel without ``url``.
    """
    url = cfg.url or _DEFAULT_URLS.get(cfg.kind)
    if not url:
        raise ChannelConfigError(f"notify channel {cfg.name!r}: set url")
    secrets = read_secrets(cfg.secret_file, _SECRETS[cfg.kind], cfg.name)
    if cfg.kind == "wecom":
        return WeComRobot(cfg.name, url, secrets["key"], cfg.mention_mobiles, cfg.timeout_s)
    if cfg.kind == "dingtalk":
        return DingTalkRobot(
            cfg.name, url, secrets["access_token"], secrets["secret"], cfg.mention_mobiles, cfg.timeout_s
        )
    if cfg.kind == "webhook":
        return Webhook(cfg.name, url, secrets["secret"], cfg.timeout_s)
    extra: dict[str, str] = {}
    if cfg.secret_file is not None:
        extra = read_secrets(cfg.secret_file, ("username", "password"), cfg.name)
    return MqttChannel(
        cfg.name,
        url,
        kiosk_id,
        cfg.topic or f"kiosk/{kiosk_id}",
        extra.get("username"),
        extra.get("password"),
        cfg.timeout_s,
    )


def build_channels(settings: NotifySettings, kiosk_id: str) -> tuple[dict[str, Channel], list[str]]:
    """Every configured channel that can be built, and a message for each that cannot (the
    others still work).

    Returns:
        (channels by name, problems).
    """
    channels: dict[str, Channel] = {}
    problems: list[str] = []
    for cfg in settings.channels:
        try:
            channels[cfg.name] = build_channel(cfg, kiosk_id)
        except ChannelConfigError as exc:
            problems.append(str(exc))
    return channels, problems


def kiosk_id_default() -> str:
    """The host name: a kiosk's id when ``[notify] kiosk_id`` is not set."""
    return os.uname().nodename or "kiosk"
