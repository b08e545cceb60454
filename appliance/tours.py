"""Guided explanations (讲解, "tours"): scripts kept with the knowledge base, and their runner.

A tour is a titled sequence of steps. Staff pick one on the touchscreen; the robot narrates it step
by step, with a slide and an image on the screen and a gesture or a look for each step; a resident
may interrupt with a question (answered by the answer engine elsewhere) and the tour then resumes;
staff can pause, skip, repeat or stop it.

The file: UTF-8 TOML named ``*.tour.toml``, beside the guides; ``kiosk kb ingest`` stores it, with
its images, in the knowledge base (tables ``tours`` and ``tour_media``), and ``kiosk tours check``
validates it without storing it::

    id = "fangzha-xuanjiang"             # a-z, 0-9 and '-', at most 64; unique in the knowledge base
    title = "防范电信网络诈骗宣讲"
    lang = "zh"                           # "zh" or "en": the narration's language
    summary = "一两句话：讲什么，给谁听"
    duration_min = 8                      # optional: about how long it takes, minutes

    [[steps]]                             # 1 to 40 steps, in order
    title = "开场"                         # short, shown on the staff controls
    narration = "各位叔叔阿姨……"            # what the robot says (at most 2,000 characters)
    slide = { heading = "三不", bullets = ["不轻信", "不透露", "不转账"] }   # optional, ≤ 8 bullets
    image = "images/koujue.svg"           # optional: relative to this file, .png .jpg .jpeg .svg, ≤ 5 MiB
    action = { gesture = "wave" }         # optional, exactly one of:
    #   look = [pan_deg, tilt_deg]        head; pan + left, tilt + up; pan -90..90, tilt -20..30
    #   gesture = "wave"                  wave, nod, point-left, point-right, bow, idle-breathe
    #   point = "left" | "right" | deg    look that way, then point with the arm on that side;
    #                                     a bearing (+ left, -90..90, not 0) picks the side by its sign
    #   turn = deg                        rotate the base, + anticlockwise, -180..180, not 0; relative,
    #                                     so a later step should turn back
    #   face = "smile"                    neutral, smile, listening, thinking, speaking, sad, alert

Names and ranges are the robot's (``firmware_bridge/messages.py`` GESTURES and FACES, and the reference
limits of ``firmware_bridge/PROTOCOL.md`` section 11): a tour the body would refuse is refused when
it is loaded, with the file, the step and the reason. Unknown fields are refused too (a misspelt
``naration`` is an error, not a silently empty step).

:class:`TourRunner` plays a tour on a worker thread through a :class:`Narrator` (the voice, or the
screen) and an ``act`` callback (the robot), reporting what happens as events
(:class:`TourStarted`, :class:`StepStarted`, :class:`TourPaused`, :class:`TourResumed`,
:class:`TourFinished`). It knows nothing of Qt.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from appliance.compat import tomllib
from appliance.events import StepStarted, TourEvent, TourFinished, TourPaused, TourResumed, TourStarted
from appliance.reading import reading_seconds
from firmware_bridge.messages import FACES, GESTURES, Limits

if TYPE_CHECKING:
    from firmware_bridge.robot import Robot

log = logging.getLogger(__name__)

TOUR_SUFFIX = ".tour.toml"
"""Tour files end with this (other ``.toml`` files in a guides folder are not tours)."""
MAX_IMAGE_BYTES = 5 * 2**20
"""Largest image a step may show, bytes."""
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
"""Image file suffixes a step may name, and their MIME types."""
REFERENCE_LIMITS = Limits()
"""The head and base ranges tours are checked against (PROTOCOL.md section 11), degrees."""
POINT_LOOK_DEG = 45.0
"""Head pan when a step points "left" or "right" without a bearing, degrees (+ left)."""
BRIDGE = {"zh": "我们接着讲。", "en": "Let's continue."}
"""Said after a resident's question has been answered, before the step is told again."""
ACTION_KINDS = ("look", "gesture", "point", "turn", "face")


class TourError(ValueError):
    """A tour file that cannot be used: ``file`` is its name, ``detail`` the reason for staff."""

    def __init__(self, file: str, detail: str):
        super().__init__(f"{file}: {detail}")
        self.file = file
        self.detail = detail


class ActionRefused(RuntimeError):
    """The robot's controller answered a tour action with a refusal (busy, outside a limit)."""


def is_tour_file(path: Path) -> bool:
    """True when ``path`` is named like a tour (``*.tour.toml``, any case)."""
    return path.name.lower().endswith(TOUR_SUFFIX)


# --------------------------------------------------------------------------------------------
# The format


_MODEL = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of degrees, not {value!r}")
    return float(value)


def _in_range(value: float, bounds: tuple[float, float], what: str) -> float:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{what} {value:g}° is outside the robot's range {low:g}..{high:g}°")
    return value


def _named(value: Any, table: Mapping[str, object], what: str) -> str:
    key = value.strip().lower().replace("_", "-") if isinstance(value, str) else None
    if key not in table:
        raise ValueError(f"unknown {what} {value!r}; one of: {', '.join(table)}")
    return key


def _check_look(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"look is [pan_deg, tilt_deg], e.g. [30, -5]; got {value!r}")
    pan = _in_range(_number(value[0], "look pan"), REFERENCE_LIMITS.pan, "look pan")
    tilt = _in_range(_number(value[1], "look tilt"), REFERENCE_LIMITS.tilt, "look tilt")
    return pan, tilt


def _check_point(value: Any) -> str | float:
    if isinstance(value, str):
        side = value.strip().lower()
        if side not in ("left", "right"):
            raise ValueError(f'point is "left", "right" or a bearing in degrees (+ left); got {value!r}')
        return side
    bearing = _in_range(_number(value, "point bearing"), REFERENCE_LIMITS.pan, "point bearing")
    if bearing == 0:
        raise ValueError("point bearing 0 is straight ahead and has no side; use look = [0, 0] or a side")
    return bearing


def _check_turn(value: Any) -> float:
    degrees = _in_range(_number(value, "turn"), REFERENCE_LIMITS.turn, "turn")
    if degrees == 0:
        raise ValueError("turn 0° does nothing; leave the action out")
    return degrees


_ACTION_CHECKS: dict[str, Callable[[Any], Any]] = {
    "look": _check_look,
    "gesture": lambda v: _named(v, GESTURES, "gesture"),
    "point": _check_point,
    "turn": _check_turn,
    "face": lambda v: _named(v, FACES, "face"),
}


class TourAction(BaseModel):
    """What the robot does when a step starts: exactly one of the fields is set.

    Attributes:
        look: head pan and tilt, degrees (pan + left, tilt + up).
        gesture: a gesture name (``firmware_bridge.messages.GESTURES``).
        point: "left", "right", or a bearing in degrees (+ left): the head looks that way, then the
            arm on that side points.
        turn: base rotation relative to where it faces now, degrees (+ anticlockwise).
        face: a face name (``firmware_bridge.robot.FACES``).
    """

    model_config = _MODEL

    look: tuple[float, float] | None = None
    gesture: str | None = None
    point: Literal["left", "right"] | float | None = None
    turn: float | None = None
    face: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, TourAction):
            return data
        if not isinstance(data, dict):
            raise ValueError(f'an action is a table with one of {", ".join(ACTION_KINDS)}, e.g. {{ gesture = "wave" }}')
        unknown = [k for k in data if k not in ACTION_KINDS]
        if unknown:
            raise ValueError(f"unknown action {unknown[0]!r}; one of: {', '.join(ACTION_KINDS)}")
        given = [k for k, v in data.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                f"an action has exactly one of {', '.join(ACTION_KINDS)}"
                + (f"; this one has {', '.join(given)} (use one step for each)" if given else "")
            )
        kind = given[0]
        return {kind: _ACTION_CHECKS[kind](data[kind])}

    @property
    def kind(self) -> str:
        """'look', 'gesture', 'point', 'turn' or 'face'."""
        return next(k for k in ACTION_KINDS if getattr(self, k) is not None)

    def point_bearing(self) -> float | None:
        """For a point action, where the head looks, degrees (+ left); None for other actions."""
        if self.point is None:
            return None
        if self.point == "left":
            return POINT_LOOK_DEG
        if self.point == "right":
            return -POINT_LOOK_DEG
        return float(self.point)

    def describe(self) -> str:
        """One line for logs and the staff screen, e.g. 'point left', 'look pan +30° tilt -5°'."""
        if self.look is not None:
            return f"look pan {self.look[0]:+g}° tilt {self.look[1]:+g}°"
        if self.point is not None:
            if isinstance(self.point, str):
                return f"point {self.point}"
            return f"point {self.point:+g}° ({'left' if self.point > 0 else 'right'})"
        if self.turn is not None:
            return f"turn {self.turn:+g}°"
        if self.gesture is not None:
            return f"gesture {self.gesture}"
        return f"face {self.face}"

    def perform(self, robot: Robot) -> None:
        """Send the action to the robot (a look, a gesture, a point is a look then a gesture).

        Returns after the controller accepted each command (a gesture or a turn then goes on by
        itself for a second or two).

        Raises:
            ActionRefused: the controller refused a command (arms busy, outside its limits).
            firmware_bridge.reliable.LinkError: no body, the e-stop is latched, or the link failed.
        """
        if self.look is not None:
            replies = [robot.look(*self.look)]
        elif self.point is not None:
            bearing = self.point_bearing() or 0.0
            replies = [robot.look(bearing, 0)]
            replies.append(robot.gesture("point-left" if bearing > 0 else "point-right"))
        elif self.turn is not None:
            replies = [robot.turn(self.turn)]
        elif self.gesture is not None:
            replies = [robot.gesture(self.gesture)]
        else:
            replies = [robot.face(str(self.face))]
        for reply in replies:
            if reply is not None and not reply.ok:
                ack = reply.ack
                raise ActionRefused(f"{self.describe()}: {ack.result.name} {ack.detail or ack.reason.name}".strip())


class Slide(BaseModel):
    """What the screen shows for a step: a heading and up to eight short bullet lines."""

    model_config = _MODEL

    heading: str = Field(min_length=1, max_length=80)
    bullets: tuple[str, ...] = Field(default=(), max_length=8)

    @field_validator("bullets")
    @classmethod
    def _short_bullets(cls, bullets: tuple[str, ...]) -> tuple[str, ...]:
        for i, b in enumerate(bullets, start=1):
            if not b.strip():
                raise ValueError(f"bullet {i} is empty")
            if len(b) > 120:
                raise ValueError(f"bullet {i} has {len(b)} characters (at most 120 fit on a slide)")
        return tuple(b.strip() for b in bullets)


class TourStep(BaseModel):
    """One step: what is said, and what is shown and done meanwhile.

    Attributes:
        image: a path relative to the tour file (POSIX separators); in the knowledge base, the
            name under which :meth:`~appliance.knowledge.store.KnowledgeBase.tour_media` finds it.
    """

    model_config = _MODEL

    title: str = Field(min_length=1, max_length=60)
    narration: str = Field(min_length=1, max_length=2000)
    slide: Slide | None = None
    image: str | None = None
    action: TourAction | None = None

    @field_validator("image")
    @classmethod
    def _relative_image(cls, image: str | None) -> str | None:
        if image is None:
            return None
        path = PurePosixPath(image.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"image {image!r} must be a path relative to the tour file, inside its folder")
        if path.suffix.lower() not in IMAGE_TYPES:
            raise ValueError(f"image {image!r}: use {', '.join(IMAGE_TYPES)}")
        return str(path)


class Tour(BaseModel):
    """A guided explanation as validated from its file (see the module for the format)."""

    model_config = _MODEL

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=60)
    lang: Literal["zh", "en"]
    summary: str = Field(min_length=1, max_length=300)
    duration_min: float | None = Field(default=None, gt=0, le=180)
    steps: tuple[TourStep, ...] = Field(min_length=1, max_length=40)

    def images(self) -> list[str]:
        """The image names the steps show, each once, in step order."""
        return list(dict.fromkeys(s.image for s in self.steps if s.image))


@dataclass(frozen=True)
class TourMedia:
    """An image of a tour: its name (as in the step), MIME type and bytes."""

    name: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class LoadedTour:
    """A tour file read and checked, with its images.

    Attributes:
        sha256: hex digest of the TOML bytes and every image (a changed image changes it).
    """

    tour: Tour
    media: tuple[TourMedia, ...]
    sha256: str


def _where(loc: tuple[Any, ...], data: Any) -> str:
    """'step 3 ("冒充公检法") action' from a pydantic location."""
    parts: list[str] = []
    i = 0
    while i < len(loc):
        key = loc[i]
        if key == "steps" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            n = loc[i + 1]
            title = None
            steps = data.get("steps") if isinstance(data, dict) else None
            if isinstance(steps, list) and n < len(steps) and isinstance(steps[n], dict):
                title = steps[n].get("title")
            parts.append(f'step {n + 1} ("{title}")' if isinstance(title, str) and title else f"step {n + 1}")
            i += 2
            continue
        if isinstance(key, int):
            parts.append(f"item {key + 1}")
        else:
            parts.append(str(key))
        i += 1
    return " ".join(parts) or "the file"


def _explain(exc: ValidationError, data: Any) -> str:
    lines = []
    for error in exc.errors()[:5]:
        kind, message = error["type"], error["msg"]
        if kind == "missing":
            message = "missing (required)"
        elif kind == "extra_forbidden":
            message = "unknown field (misspelt?)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if error["loc"] == ("id",) and kind == "string_pattern_mismatch":
            message = "use lowercase letters a-z, digits and '-' (at most 64), e.g. \"fangzha-xuanjiang\""
        lines.append(f"{_where(error['loc'], data)}: {message}")
    more = exc.error_count() - len(lines)
    return "; ".join(lines) + (f" (and {more} more)" if more > 0 else "")


def parse_tour(data: bytes, file: str = "tour") -> Tour:
    """Validate a tour file's bytes (UTF-8 TOML); images are not looked at.

    Raises:
        TourError: not UTF-8, not TOML, or a field that is missing, unknown or invalid.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TourError(file, f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TourError(file, f"not valid TOML: {exc}") from exc
    try:
        return Tour.model_validate(raw)
    except ValidationError as exc:
        raise TourError(file, _explain(exc, raw)) from exc


def _image_ok(data: bytes, suffix: str) -> bool:
    if suffix == ".png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if suffix in (".jpg", ".jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    head = data[:4096].decode("utf-8", errors="replace")
    return "<svg" in head


def load_tour(
    path: Path,
    data: bytes | None = None,
    *,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    read_image: Callable[[Path, int], bytes] | None = None,
) -> LoadedTour:
    """Read and check a tour file and the images its steps name.

    Images are read as regular files only (a FIFO, device or socket named as an image is refused
    without being opened, so it cannot hang the reading), never through a link out of the tour's
    folder.

    Args:
        data: the file's bytes when already read (ingest hashes them first).
        max_image_bytes: the size cap per image.
        read_image: reads an image given its resolved path and the size cap, raising
            :class:`~appliance.knowledge.limits.ReadError` to refuse it (ingest passes its
            folder's reader); default :func:`appliance.knowledge.files.read_regular_file`.

    Raises:
        TourError: the file is invalid (see :func:`parse_tour`), or an image is missing, outside
            the tour's folder, not a regular file, too large, or not the type its name says.
    """
    from appliance.knowledge.files import read_regular_file
    from appliance.knowledge.limits import ReadError

    read_image = read_image or read_regular_file
    file = path.name
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TourError(file, f"cannot read it: {exc.strerror or exc}") from exc
    tour = parse_tour(data, file)
    folder = path.resolve().parent
    digest = hashlib.sha256(data)
    media = []
    for name in tour.images():
        where = f"image {name!r}"
        image = (folder / name).resolve()
        if not image.is_relative_to(folder):
            raise TourError(file, f"{where} is outside the tour's folder")
        try:
            blob = read_image(image, max_image_bytes)
        except ReadError as exc:
            hint = "; make it smaller" if str(exc).startswith("file too large") else ""
            raise TourError(file, f"{where}: {exc}{hint}") from exc
        except FileNotFoundError as exc:
            raise TourError(file, f"{where} not found (looked for {image})") from exc
        except OSError as exc:
            raise TourError(file, f"{where} cannot be read: {exc.strerror or exc}") from exc
        suffix = image.suffix.lower()
        if not _image_ok(blob, suffix):
            raise TourError(file, f"{where} is not a {suffix[1:].upper()} file (its content does not match its name)")
        media.append(TourMedia(name, IMAGE_TYPES[suffix], blob))
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(blob).digest())
    return LoadedTour(tour, tuple(media), digest.hexdigest())


# --------------------------------------------------------------------------------------------
# The runner


class Narrator(Protocol):
    """Tells the narration: a voice, or a screen that shows the text for as long as reading takes."""

    def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        """Speak or show ``text`` (in ``lang``, 'zh' or 'en'); block until done, or return early
        (within a fraction of a second) once ``cancelled`` is set."""
        ...


class ReadingNarrator:
    """A narrator without a voice: hands the text to ``show`` and waits for the time reading it
    aloud would take (:func:`appliance.reading.reading_seconds` at ``speed``; 0 does not wait).

    Args:
        show: called with each text (print it, put it on the screen).
        speed: how much faster than reading aloud; 0 returns at once.
    """

    def __init__(self, show: Callable[[str], None], speed: float = 1.0):
        self.show = show
        self.speed = speed

    def say(self, text: str, lang: str, cancelled: threading.Event) -> None:
        """Show ``text``, then wait the reading time or until ``cancelled``."""
        self.show(text)
        if self.speed > 0:
            cancelled.wait(reading_seconds(text, lang, self.speed))


RunnerState = Literal["idle", "running", "paused", "question", "finished", "stopped"]


class TourRunner:
    """Plays one tour, step by step, on its own worker thread.

    Each step: :class:`StepStarted` is emitted, the step's action goes to ``act``, then the
    narration to ``narrator``. Pausing, a question, skip, repeat and stop cancel the narration in
    progress (the ``cancelled`` event given to :meth:`Narrator.say`); a step whose narration was
    cut is told again from its start when the tour goes on.

    The control methods are thread-safe and may be called from any thread (the UI's, the voice
    loop's); a control that does not apply in the current state is a no-op, and every control is a
    no-op once the tour has ended.

    Args:
        tour: the tour to play.
        narrator: speaks (or shows) each narration; see :class:`Narrator`.
        act: performs a step's robot action, e.g. ``lambda a: a.perform(robot)``; called on the
            runner's thread, so it should return within a round trip or two. An exception from it
            (no body, e-stop latched, link error, a refusal) is logged and the tour goes on.
        on_event: receives the events (:data:`TourEvent`). It is called with the runner's lock
            held, from the runner's thread or the thread that called a control, so that events
            arrive in the order the state changed: it must return quickly and must not wait for
            another thread that uses the runner (post to the UI thread instead).

    Attributes:
        tour: the tour.
    """

    def __init__(
        self,
        tour: Tour,
        narrator: Narrator,
        act: Callable[[TourAction], None] | None = None,
        on_event: Callable[[object], None] | None = None,
    ):
        self.tour = tour
        self._narrator = narrator
        self._act = act
        self._on_event = on_event
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._state: RunnerState = "idle"
        self._index = 0
        self._cancel = threading.Event()  # the narration in progress
        self._bridge = False  # say BRIDGE before the next step (after a question)
        self._done: set[int] = set()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> RunnerState:
        """'idle' (not started), 'running', 'paused' (by staff), 'question' (a resident's question
        is being answered), 'finished' (ran past its last step) or 'stopped'."""
        with self._lock:
            return self._state

    @property
    def index(self) -> int:
        """The current step, 0-based (``len(tour.steps)`` once the tour has run past its end)."""
        with self._lock:
            return self._index

    @property
    def ended(self) -> bool:
        """True once the tour has finished or was stopped."""
        return self._ended.is_set()

    # -- controls ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start playing on a worker thread (only from 'idle'; later calls are no-ops)."""
        with self._lock:
            if self._state != "idle":
                return
            self._state = "running"
            self._emit(TourStarted(self.tour))
            self._thread = threading.Thread(target=self._run, name=f"tour-{self.tour.id}", daemon=True)
            self._thread.start()

    def pause(self) -> None:
        """Staff pause: the narration stops now and the tour waits for :meth:`resume`."""
        with self._lock:
            if self._state == "running":
                self._state = "paused"
                self._cancel.set()
                self._emit(TourPaused(self.tour.id, self._index, "staff"))

    def resume(self) -> None:
        """Go on after a pause, telling the interrupted step again from its start. While a
        question is pending, staff resuming counts as :meth:`question_done`."""
        with self._lock:
            if self._state == "question":
                self.question_done()
            elif self._state == "paused":
                self._state = "running"
                self._emit(TourResumed(self.tour.id, self._index))
                self._wake.notify_all()

    def question_started(self) -> None:
        """A resident interrupts with a question: the narration stops now and the tour waits for
        :meth:`question_done`. Only while running (a tour paused by staff stays paused)."""
        with self._lock:
            if self._state == "running":
                self._state = "question"
                self._cancel.set()
                self._emit(TourPaused(self.tour.id, self._index, "question"))

    def question_done(self) -> None:
        """The question was answered: say :data:`BRIDGE`, then tell the current step again."""
        with self._lock:
            if self._state == "question":
                self._state = "running"
                self._bridge = True
                self._emit(TourResumed(self.tour.id, self._index))
                self._wake.notify_all()

    def skip(self) -> None:
        """Go to the next step now (past the last one, the tour finishes). While paused or during a
        question, the tour stays waiting and goes on at the next step."""
        with self._lock:
            if self._state not in ("running", "paused", "question"):
                return
            self._cancel.set()
            self._bridge = False
            self._index += 1
            if self._index >= len(self.tour.steps):
                self._end("finished")

    def repeat(self) -> None:
        """Tell the current step again from its start (while paused or during a question, the
        tour does that anyway when it goes on)."""
        with self._lock:
            if self._state == "running":
                self._cancel.set()

    def stop(self) -> None:
        """End the tour now, from any state (a tour never started ends without playing)."""
        with self._lock:
            if self._state in ("finished", "stopped"):
                return
            self._cancel.set()
            self._end("stopped")

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the tour has ended (and its thread is gone); False if ``timeout`` (s) passed first."""
        if not self._ended.wait(timeout):
            return False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # -- worker --------------------------------------------------------------------------------

    def _emit(self, event: TourEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("tour %s: the event handler failed on %s", self.tour.id, type(event).__name__)

    def _end(self, state: RunnerState) -> None:
        """Enter a final state (lock held): emit TourFinished once, wake the worker."""
        self._state = state
        self._cancel.set()
        self._emit(TourFinished(self.tour.id, state == "finished", len(self._done)))
        self._ended.set()
        self._wake.notify_all()

    def _perform(self, index: int, action: TourAction) -> None:
        if self._act is None:
            return
        try:
            self._act(action)
        except Exception as exc:  # no body, e-stop, link down, refused: the tour goes on without it
            log.warning("tour %s step %d: %s not done: %s", self.tour.id, index + 1, action.describe(), exc)

    def _run(self) -> None:
        steps, lang = self.tour.steps, self.tour.lang
        try:
            while True:
                with self._lock:
                    while self._state in ("paused", "question"):
                        self._wake.wait()
                    if self._state != "running":
                        return
                    if self._index >= len(steps):
                        self._end("finished")
                        return
                    index, cancel = self._index, threading.Event()
                    self._cancel = cancel
                    if self._bridge:
                        self._bridge = False
                        bridge = True
                    else:
                        bridge = False
                        self._emit(StepStarted(self.tour.id, index, len(steps), steps[index]))
                if bridge:
                    self._narrator.say(BRIDGE[lang], lang, cancel)
                    continue  # then the step, from its start (unless something else happened)
                step = steps[index]
                if step.action is not None:
                    self._perform(index, step.action)
                if not cancel.is_set():
                    self._narrator.say(step.narration, lang, cancel)
                with self._lock:
                    if cancel.is_set() or self._state != "running":
                        continue  # a control moved on, or the step is told again
                    self._done.add(index)
                    self._index = index + 1
        except Exception:
            log.exception("tour %s: the narrator failed; stopping the tour", self.tour.id)
            with self._lock:
                if not self._ended.is_set():
                    self._end("stopped")
