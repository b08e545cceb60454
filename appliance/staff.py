"""The staff PIN that opens staff mode on the touchscreen, and its lockout.

The PIN is stored as an scrypt hash (never the PIN itself) in one JSON file, by default
``DATA_DIR/staff_pin.json`` (``Settings.staff_pin_file``)::

    {"scheme": "scrypt", "n": 16384, "r": 8, "p": 1, "salt": "<base64>", "hash": "<base64>",
     "failures": 0, "locked_until": null, "lockouts": 0}

``failures`` counts wrong PINs in a row; after ``max_tries`` of them the PIN is locked until
``locked_until`` (seconds since the epoch), and ``lockouts`` counts these rounds. The lockout
escalates: the first lasts ``lockout_s`` (5 minutes), each further one twice as long as the one
before (10, 20, 40 minutes ...), up to ``lockout_max_s`` (a day). When a lockout runs out only the
``max_tries`` tries come back; the rounds are reset only by a right PIN, ``kiosk staff unlock``
(root only) or a new PIN (``kiosk staff set-pin``). With 5 tries a round, someone guessing gets
about 45 tries in the first day and 5 a day after (years for the 10,000 4-digit PINs), where a
fixed 5-minute lockout (1,440 tries a day) gave the whole space in a week. Everything is in the file, written
atomically (temporary file, fsync, rename) with mode 0600, so that restarting the appliance or
rebooting the device does not give an attacker fresh tries. A file written before ``lockouts``
existed reads as 0 lockouts.

Fail closed: with no PIN set, or with a file that cannot be read or does not parse, no PIN opens
staff mode; someone with shell access sets one with ``kiosk staff set-pin``.

**Cost.** :meth:`PinLock.verify` and :meth:`PinLock.set_pin` run scrypt, which takes about 40 to
100 ms of CPU and 16 MiB of memory: call them from a worker thread, never from the GUI thread.
:meth:`PinLock.status` and :attr:`PinLock.is_set` only read the file.

Concurrency: one :class:`PinLock` serialises its own callers (a lock held across the scrypt, so
parallel guessing gains nothing). Between processes (two front ends, the appliance and ``kiosk
staff unlock`` or ``set-pin``), every change holds an ``flock`` on ``<pin file>.lock``
(:func:`appliance.locking.exclusive`) from reading the file to writing it, scrypt included, so
two processes checking PINs at once cannot both spend the same try and an unlock is never
overwritten. :meth:`PinLock.status` and :attr:`PinLock.is_set` read without it (the file is
replaced atomically). Where the lock file cannot be created (a read-only folder) the appliance
logs it and carries on with the in-process lock alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import Timeout

from appliance.locking import exclusive

if TYPE_CHECKING:
    from appliance.config import Settings

log = logging.getLogger(__name__)

# scrypt parameters (RFC 7914, "The scrypt Password-Based Key Derivation Function", section 2:
# r = 8 and p = 1 "appear to yield good results"; N = 2^14 is the interactive-login setting of
# Percival's scrypt paper and RFC 7914's test vector 3). This costs 16 MiB (128 * r * N bytes) and
# about 50 ms per try on the appliance's CPU. The OWASP Password Storage Cheat Sheet
# (cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html, 2023) asks for
# N >= 2^17 with r = 8, p = 1 for *passwords*; for a PIN of 4 to 12 digits no work factor makes an
# offline search of a stolen file slow (10^4 PINs * 0.4 s is still under an hour at N = 2^17), so
# the real protections are the file's mode (0600) and the lockout below, and N = 2^14 keeps the
# PIN pad responsive on a small board. The parameters are stored with each hash: raising N later
# only needs a new ``set-pin``; existing files keep verifying with their own.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 12
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²" and "١٢٣٤"

# Well-known PINs that the rules in check_pin (one digit repeated, a run up or down, a repeated
# block) do not already catch: keypad shapes and the most common choices in published PIN studies,
# plus Chinese number puns (5201314 "我爱你一生一世", 1314520).
_COMMON_PINS = frozenset(
    {"1004", "2000", "1122", "6969", "2580", "0852", "112233", "123321", "159753", "159357",
     "147258", "258369", "147258369", "5201314", "1314520", "0520"}
)  # fmt: skip

# Bounds on parameters read from the file, so that a damaged or tampered file cannot make a verify
# allocate gigabytes or run for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16

#: How long a PIN check or change waits for another process's, seconds (each holds it ~50-100 ms).
FILE_LOCK_WAIT_S = 10.0


class PinFileError(ValueError):
    """The PIN file exists but does not hold a usable PIN (corrupt, unreadable, unknown scheme)."""


@dataclass(frozen=True)
class PinResult:
    """The outcome of one :meth:`PinLock.verify`.

    Attributes:
        ok: the PIN was right and staff mode may open.
        locked: too many wrong PINs: no PIN is checked until ``retry_after_s`` has passed.
        tries_left: wrong PINs still allowed before the lockout (0 while locked).
        retry_after_s: seconds until the lockout ends (0.0 when not locked).
    """

    ok: bool
    locked: bool
    tries_left: int
    retry_after_s: float


@dataclass(frozen=True)
class PinStatus:
    """What the staff screen and ``kiosk staff status`` show; reading it costs no scrypt.

    Attributes:
        is_set: a usable PIN is stored (False also when the file is corrupt or unreadable).
        locked: the lockout is running.
        failures: wrong PINs in a row so far.
        tries_left: wrong PINs still allowed before the lockout (0 while locked).
        retry_after_s: seconds until the lockout ends (0.0 when not locked).
        locked_until: when the lockout ends, seconds since the epoch, or None.
        problem: why the file is not usable (corrupt, unreadable), or None.
        lockouts: lockouts since the last right PIN, unlock or new PIN (the running one included).
        next_lockout_s: how long the next lockout would last, seconds (0.0 when no PIN is set).
    """

    is_set: bool
    locked: bool
    failures: int
    tries_left: int
    retry_after_s: float
    locked_until: float | None
    problem: str | None = None
    lockouts: int = 0
    next_lockout_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


@dataclass
class _Record:
    """The parsed contents of the PIN file."""

    n: int
    r: int
    p: int
    salt: bytes
    hash: bytes
    failures: int
    locked_until: float | None
    lockouts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "hash": base64.b64encode(self.hash).decode("ascii"),
            "failures": self.failures,
            "locked_until": self.locked_until,
            "lockouts": self.lockouts,
        }

    @classmethod
    def from_json(cls, data: Any) -> _Record:
        """Raises PinFileError on anything but a well-formed record."""
        if not isinstance(data, dict) or data.get("scheme") != "scrypt":
            raise PinFileError("not an scrypt PIN record")
        n, r, p, failures = (data.get(k) for k in ("n", "r", "p", "failures"))
        for name, value, high in (("n", n, _MAX_N), ("r", r, _MAX_R), ("p", p, _MAX_P)):
            if type(value) is not int or not 1 <= value <= high:
                raise PinFileError(f"bad scrypt parameter {name}={value!r}")
        if n < 2 or n & (n - 1):
            raise PinFileError(f"scrypt n={n} is not a power of two")
        if type(failures) is not int or failures < 0:
            raise PinFileError(f"bad failures={failures!r}")
        lockouts = data.get("lockouts", 0)  # absent in files written before the escalation
        if type(lockouts) is not int or lockouts < 0:
            raise PinFileError(f"bad lockouts={lockouts!r}")
        locked_until = data.get("locked_until")
        if locked_until is not None:
            try:
                if type(locked_until) not in (int, float) or float(locked_until) != float(locked_until):
                    raise OverflowError
            except OverflowError:
                raise PinFileError(f"bad locked_until={locked_until!r}") from None
        try:
            salt = base64.b64decode(data["salt"], validate=True)
            digest = base64.b64decode(data["hash"], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise PinFileError(f"bad salt or hash: {exc}") from exc
        if len(salt) < 8 or not 16 <= len(digest) <= 64:
            raise PinFileError("salt or hash of the wrong length")
        return cls(n, r, p, salt, digest, failures, None if locked_until is None else float(locked_until), lockouts)


def check_pin(pin: str) -> None:
    """Raise ValueError, with a message a person can act on, when ``pin`` is not acceptable as a
    new staff PIN: it must be 4 to 12 ASCII digits and not trivially guessable (one digit repeated
    such as 0000, a run such as 1234 or 9876 or 7890, a repeated block such as 1212 or 520520, or a
    well-known PIN such as 2580 or 5201314). The list is a floor, not a guarantee of strength."""
    if not isinstance(pin, str) or not _DIGITS.fullmatch(pin):
        raise ValueError("the PIN must be digits 0-9 only")
    if not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise ValueError(f"the PIN must have {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits (this one has {len(pin)})")
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if steps == {0}:
        raise ValueError("the PIN is one digit repeated; choose one that is hard to guess")
    if steps in ({1}, {9}):
        raise ValueError("the PIN is a run of consecutive digits; choose one that is hard to guess")
    for size in range(2, len(pin) // 2 + 1):
        if len(pin) % size == 0 and pin == pin[:size] * (len(pin) // size):
            raise ValueError("the PIN repeats a short block of digits; choose one that is hard to guess")
    if pin in _COMMON_PINS:
        raise ValueError("the PIN is one of the most common PINs; choose one that is hard to guess")


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL needs about 128 * r * (n + p + 2) bytes; its default cap is 32 MiB.
    maxmem = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(pin.encode("ascii"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


class PinLock:
    """The staff PIN in ``path``, with an escalating lockout after ``max_tries`` wrong PINs in a row.

    Args:
        path: the JSON file (``Settings.staff_pin_file``); its folder is created on write.
        max_tries: wrong PINs in a row that start a lockout (``[staff] max_tries``).
        lockout_s: how long the first lockout lasts, seconds (``[staff] lockout_s``); each further
            one lasts twice as long as the one before (:meth:`lockout_for`).
        clock: seconds since the epoch (``time.time``; a fake one in tests). A wall clock because
            the lockout must survive a reboot; a lockout found to end further from now than the
            current round's wait (the clock was set back, e.g. a board without an RTC before NTP)
            is cut to that wait from now, so a clock jump never locks staff out for longer.
        lockout_max_s: the longest lockout, seconds (``[staff] lockout_max_s``, a day): the
            doubling stops there.

    Raises:
        ValueError: ``max_tries`` < 1, ``lockout_s`` <= 0 or ``lockout_max_s`` < ``lockout_s``.

    The file is re-read on every call, so that ``kiosk staff unlock`` or ``set-pin`` run from a
    shell take effect in the running appliance.
    """

    def __init__(
        self,
        path: Path,
        max_tries: int = 5,
        lockout_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        *,
        lockout_max_s: float = 86400.0,
    ) -> None:
        if max_tries < 1 or lockout_s <= 0:
            raise ValueError("max_tries must be >= 1 and lockout_s > 0")
        if lockout_max_s < lockout_s:
            raise ValueError(f"lockout_max_s ({lockout_max_s:g}) must not be shorter than lockout_s ({lockout_s:g})")
        self.path = Path(path)
        self.lock_file = self.path.with_name(self.path.name + ".lock")
        self.max_tries = max_tries
        self.lockout_s = float(lockout_s)
        self.lockout_max_s = float(lockout_max_s)
        self.clock = clock
        self._mutex = threading.Lock()
        self._unsaved: _Record | None = None  # tries the file could not take
        self._warned: str | None = None  # the file problem last logged

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.time) -> PinLock:
        """The PIN lock the settings describe (``staff_pin_file``, ``[staff] max_tries``,
        ``lockout_s``, ``lockout_max_s``)."""
        st = settings.staff
        return cls(settings.staff_pin_file, st.max_tries, st.lockout_s, clock, lockout_max_s=st.lockout_max_s)

    def lockout_for(self, lockouts: int) -> float:
        """How long the ``lockouts``-th lockout in a row lasts, seconds: ``lockout_s`` for the
        first (and for 0), doubling with each further one, at most ``lockout_max_s``."""
        return min(self.lockout_s * 2.0 ** min(max(lockouts - 1, 0), 64), self.lockout_max_s)

    # Reading -------------------------------------------------------------------------------
    def _load(self) -> _Record | None:
        """The record, or None when no PIN file exists.

        Raises:
            PinFileError: the file exists but cannot be read or does not parse.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise PinFileError(f"cannot read {self.path}: {exc}") from exc
        try:
            return _Record.from_json(json.loads(text))
        except ValueError as exc:  # json.JSONDecodeError and PinFileError
            raise PinFileError(f"{self.path} is corrupt ({exc}); set a new PIN with `kiosk staff set-pin`") from exc

    def _load_or_warn(self) -> tuple[_Record | None, str | None]:
        try:
            return self._load(), None
        except PinFileError as exc:
            if str(exc) != self._warned:  # once per problem, not on every status poll
                self._warned = str(exc)
                log.warning("staff PIN unusable, staff mode stays closed: %s", exc)
            return None, str(exc)

    def _current(self, forget_stale: bool = True) -> tuple[_Record | None, str | None]:
        """The record to act on, and the file's problem: the file's record, or the tries this
        process could not write as long as the file still holds the same PIN (a new PIN set from a
        shell wins, and then those tries are forgotten unless ``forget_stale`` is False)."""
        rec, problem = self._load_or_warn()
        mem = self._unsaved
        if mem is not None and rec is not None and (mem.salt, mem.hash) == (rec.salt, rec.hash):
            return mem, None
        if forget_stale:
            self._unsaved = None
        return rec, problem

    def _round_wait(self, rec: _Record) -> float:
        """The wait of the record's current (or last) lockout; a file from before the rounds were
        counted has 0 of them and then means the first."""
        return self.lockout_for(max(rec.lockouts, 1))

    def _lock_left(self, rec: _Record, now: float) -> float:
        """Seconds of lockout left (0.0 when none), capped at the current round's wait (see the class doc)."""
        if rec.locked_until is None:
            return 0.0
        return min(max(rec.locked_until - now, 0.0), self._round_wait(rec))

    @property
    def is_set(self) -> bool:
        """A usable PIN is stored (False when there is none, or the file is corrupt or unreadable)."""
        return self._load_or_warn()[0] is not None

    def status(self) -> PinStatus:
        """Set or not, failures, lockouts, and whether and how long it is locked. Reads the file;
        no scrypt, no file lock, and it does not wait for a verify in progress (fine on the GUI thread)."""
        rec, problem = self._current(forget_stale=False)
        if rec is None:
            return PinStatus(False, False, 0, self.max_tries, 0.0, None, problem)
        now = self.clock()
        left = self._lock_left(rec, now)
        lockouts = max(rec.lockouts, 1) if rec.locked_until is not None else rec.lockouts
        following = self.lockout_for(lockouts + 1)
        if left > 0:
            return PinStatus(True, True, rec.failures, 0, left, now + left, None, lockouts, following)
        failures = 0 if rec.locked_until is not None else rec.failures  # an expired lockout gives fresh tries
        return PinStatus(True, False, failures, max(self.max_tries - failures, 0), 0.0, None, None, lockouts, following)

    # Writing -------------------------------------------------------------------------------
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the lock file between processes for the block (see the module doc).

        Raises:
            filelock.Timeout: another process held it for :data:`FILE_LOCK_WAIT_S`.
        """
        with ExitStack() as stack:
            try:
                stack.enter_context(exclusive(self.lock_file, FILE_LOCK_WAIT_S))
            except Timeout:
                raise
            except OSError as exc:
                problem = f"cannot lock {self.lock_file} ({exc}); guarding the PIN within this process only"
                if problem != self._warned:
                    self._warned = problem
                    log.warning("%s", problem)
            yield

    def _write(self, rec: _Record) -> None:
        """Write atomically with mode 0600: a crash leaves the old file or the new one, never half.

        Run as root (provisioning with sudo), the file keeps the owner of the file it replaces, or
        takes the owner of its folder, so that the appliance's own user can still read it.
        """
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".staff_pin-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                if hasattr(os, "geteuid") and os.geteuid() == 0:
                    owner = self.path if self.path.exists() else folder
                    st = owner.stat()
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                json.dump(rec.to_json(), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:  # make the rename itself durable (a power cut right after a lockout must keep it)
            dir_fd = os.open(folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    def set_pin(self, pin: str) -> None:
        """Store ``pin`` (new random salt) and clear failures, lockouts and any lockout. Runs
        scrypt: not on the GUI thread.

        Raises:
            ValueError: ``pin`` is not 4 to 12 digits or is trivially guessable (see :func:`check_pin`).
            OSError: the file cannot be written (filelock.Timeout, an OSError, when another process
                held the lock file for :data:`FILE_LOCK_WAIT_S`).
        """
        check_pin(pin)
        salt = secrets.token_bytes(SALT_BYTES)
        digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN)
        with self._mutex, self._exclusive():
            self._write(_Record(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, digest, 0, None, 0))
            self._unsaved = None

    def clear_lockout(self) -> bool:
        """End a lockout and forget the wrong tries and the lockouts so far (``kiosk staff
        unlock``): the next lockout lasts ``lockout_s`` again. Returns whether there was anything
        to clear; does nothing when no usable PIN is stored.

        Raises:
            OSError: the file cannot be written (or the lock file was held, as :meth:`set_pin`).
        """
        with self._mutex, self._exclusive():
            rec, _ = self._current()
            if rec is None or (rec.failures == 0 and rec.locked_until is None and rec.lockouts == 0):
                return False
            rec.failures, rec.locked_until, rec.lockouts = 0, None, 0
            self._write(rec)
            self._unsaved = None
            return True

    def _save_or_keep(self, rec: _Record) -> None:
        """Write the tries; when that fails (disk full, read-only file), keep them in memory so
        that the lockout still holds in this process (see :meth:`_current`)."""
        try:
            self._write(rec)
            self._unsaved = None
        except OSError as exc:
            log.error("cannot record the staff PIN's tries in %s (kept in memory): %s", self.path, exc)
            self._unsaved = rec

    # Checking ------------------------------------------------------------------------------
    def verify(self, pin: str) -> PinResult:
        """Check ``pin``. Never raises. Runs scrypt (about 50-100 ms): call it from a worker
        thread, never from the GUI thread.

        While locked, returns ``locked=True`` without looking at the PIN and without extending the
        lockout. Once the lockout has run out, the count of wrong PINs starts again from zero, but
        the round does not: the next ``max_tries`` wrong PINs lock for twice as long
        (:meth:`lockout_for`). A right PIN clears the count and the rounds.

        With no usable PIN (none set, corrupt or unreadable file: see :attr:`is_set`), returns
        ``ok=False`` and counts nothing: the UI tells the two cases apart with :attr:`is_set`.
        Tries that cannot be written to the file are kept in memory, so the lockout holds until
        the appliance restarts. When another process holds the lock file for
        :data:`FILE_LOCK_WAIT_S`, the PIN is refused without being checked.
        """
        with self._mutex:
            try:
                if not self.path.exists():  # no PIN: nothing to check, no lock file to make
                    return self._verify(pin)
                with self._exclusive():
                    return self._verify(pin)
            except Timeout:
                log.error("staff PIN not checked: another process held %s for %.0f s", self.lock_file, FILE_LOCK_WAIT_S)
                return PinResult(False, False, 0, 0.0)
            except Exception:  # fail closed: a bug here must not open staff mode or crash the UI
                log.exception("staff PIN check failed")
                return PinResult(False, False, 0, 0.0)

    def _verify(self, pin: str) -> PinResult:
        rec, _ = self._current()
        if rec is None:
            return PinResult(False, False, self.max_tries, 0.0)
        now = self.clock()
        left = self._lock_left(rec, now)
        if left > 0:
            if rec.locked_until is not None and rec.locked_until - now > self._round_wait(rec):
                rec.locked_until = now + left  # the clock went back: re-base, never extend
                self._save_or_keep(rec)
            return PinResult(False, True, 0, left)
        dirty = False
        if rec.locked_until is not None:  # the lockout ran out: fresh tries, the round is kept
            rec.failures, rec.locked_until, rec.lockouts, dirty = 0, None, max(rec.lockouts, 1), True
        right = False
        if isinstance(pin, str) and _DIGITS.fullmatch(pin) and len(pin) <= PIN_MAX_DIGITS:
            try:
                candidate = _scrypt(pin, rec.salt, rec.n, rec.r, rec.p, len(rec.hash))
                right = hmac.compare_digest(candidate, rec.hash)
            except (ValueError, MemoryError) as exc:  # parameters this OpenSSL refuses
                log.error("cannot check the staff PIN with the stored parameters: %s", exc)
        if right:
            if rec.failures or rec.lockouts:
                rec.failures, rec.lockouts, dirty = 0, 0, True
            if dirty:
                self._save_or_keep(rec)
            return PinResult(True, False, self.max_tries, 0.0)
        rec.failures += 1
        if rec.failures >= self.max_tries:
            rec.lockouts += 1
            rec.locked_until = now + self.lockout_for(rec.lockouts)
        self._save_or_keep(rec)
        if rec.locked_until is not None:
            return PinResult(False, True, 0, self.lockout_for(rec.lockouts))
        return PinResult(False, False, self.max_tries - rec.failures, 0.0)
