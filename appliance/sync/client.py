"""The kiosk's side: fetch what the street office signed, build it, check it, swap it in.

One sync (:meth:`SyncClient.sync`):

1. **Verify.** TUF's ngclient refreshes the metadata from ``[sync] url`` against the trusted root
   (``[sync] root`` the first time, then the root it has walked to): signatures, versions that
   never go back, expiry. Each channel is one target, ``channels/<channel>/bundle.tar.gz``.
2. **Download**, only what changed, resumably: into ``<sha256>.partial`` with HTTP ``Range`` from
   where an interrupted download stopped, then checked against the target's length and sha256
   (a file that does not match is deleted and fetched whole next time).
3. **Build.** Every channel's bundle is opened (:func:`~appliance.sync.bundle.open_bundle`), the
   sources are merged in ``[sync] channels`` order (a community's file or guide id overrides the
   street's), and ingested into a new knowledge-base file under ``DATA_DIR/kb-versions``.
4. **Check**: ``PRAGMA integrity_check``, no file failed to ingest, each channel's regression
   questions found at its published rate (less :data:`~appliance.sync.build.HIT_RATE_SLACK`),
   a bundle's ``site.toml`` valid, and the site's numbers (duty phone, property hotline) present
   for the emergency scripts.
5. **Swap.** ``DATA_DIR/kb.sqlite`` becomes a symbolic link to the new file, replaced with
   ``os.replace`` (atomic): a process opening it sees the old file or the new one. A running
   kiosk reopens it between conversations (:meth:`appliance.bootstrap.Appliance.reload_kb`).
   The last ``keep_versions`` builds are kept; ``kiosk kb rollback`` points the link back.

Anything wrong leaves the installed knowledge base serving and is recorded in ``state.json``
(``last_error``), shown by ``kiosk health`` and on the staff screen.
"""

from __future__ import annotations

import datetime as dt
import errno
import http.client
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.knowledge.retrieval import Embedder
from appliance.knowledge.text import Analyzer
from appliance.sync.bundle import BundleError, Manifest, open_bundle
from appliance.sync.publish import channel_target

__all__ = ["Changes", "Installed", "SyncClient", "SyncError", "SyncReport", "SyncState", "kb_versions", "rollback"]

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
VERSIONS_DIR = "kb-versions"


class SyncError(RuntimeError):
    """A sync that did not install anything; the installed knowledge base is untouched."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Installed:
    """One built knowledge base.

    Attributes:
        file: its name under ``DATA_DIR/kb-versions``.
        channels: channel -> bundle version it was built from.
        installed_at: when it was swapped in, UTC ISO 8601.
    """

    file: str
    channels: dict[str, int]
    installed_at: str

    def describe(self) -> str:
        return ", ".join(f"{c} v{v}" for c, v in self.channels.items()) or "local"


@dataclass
class SyncState:
    """``DATA_DIR/sync/state.json``: what is installed and how the last syncs went.

    Attributes:
        installed: newest first; ``installed[0]`` is current unless ``current`` names another
            (after a rollback).
        current: the file ``kb.sqlite`` points to.
        skip: channel versions rolled back from: not installed again until something newer comes.
    """

    installed: list[Installed] = field(default_factory=list)
    current: str | None = None
    skip: dict[str, int] = field(default_factory=dict)
    last_attempt: str | None = None
    last_success: str | None = None
    last_error: str | None = None

    @classmethod
    def load(cls, path: Path) -> SyncState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["installed"] = [Installed(**i) for i in data.get("installed", [])]
            return cls(**data)
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("sync state %s unreadable (%s): starting afresh", path, exc)
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(path, asdict(self))

    def current_entry(self) -> Installed | None:
        return next((i for i in self.installed if i.file == self.current), None)


@dataclass
class SyncReport:
    """What one sync did.

    Attributes:
        offered: channel -> the version the repository offers.
        installed: the new build, or None when everything was up to date.
        downloaded_bytes: bytes fetched for bundles (metadata not counted).
    """

    offered: dict[str, int]
    installed: Installed | None = None
    downloaded_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    changes: Changes | None = None


@dataclass
class Changes:
    """Files ("<channel>/<path>") a new build added, changed and removed against the one before."""

    added: list[str]
    changed: list[str]
    removed: list[str]

    def describe(self, limit: int = 8) -> str:
        parts = []
        for label, names in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            if names:
                more = f" and {len(names) - limit} more" if len(names) > limit else ""
                parts.append(f"{label} {len(names)}: {', '.join(names[:limit])}{more}")
        return "; ".join(parts) or "no file changed"


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a temporary file beside it, then renamed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
    os.replace(tmp, path)


def file_changes(previous_build: Path, files: dict[str, str]) -> Changes:
    """What changed between ``previous_build``'s files (its ``.files.json``; none recorded: all
    files count as added) and ``files`` ("<channel>/<path>" -> sha256)."""
    try:
        before = json.loads(previous_build.with_suffix(".files.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    return Changes(
        sorted(set(files) - set(before)),
        sorted(k for k in files.keys() & before.keys() if files[k] != before[k]),
        sorted(set(before) - set(files)),
    )


def _fetch_resumable(url: str, dest: Path, length: int, timeout_s: float) -> int:
    """Download ``url`` into ``dest.partial`` (continuing it with ``Range`` when it exists), then
    rename to ``dest``. At most ``length`` bytes are accepted.

    Returns:
        Bytes fetched now.

    Raises:
        SyncError: HTTP error, timeout, more than ``length`` bytes, or the disk is full.
    """
    partial = dest.with_name(dest.name + ".partial")
    have = partial.stat().st_size if partial.exists() else 0
    if have > length:
        partial.unlink()
        have = 0
    fetched = 0
    if have < length:
        req = urllib.request.Request(url, headers={"User-Agent": "kiosk-sync"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (the configured repository)
                if have and resp.status != 206:  # the server ignored Range: start again
                    have = 0
                with open(partial, "ab" if have else "wb") as out:
                    while True:
                        chunk = resp.read(256 * 1024)
                        if not chunk:
                            break
                        fetched += len(chunk)
                        if have + fetched > length:
                            raise SyncError(f"{url}: more bytes than the signed length {length}")
                        out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise SyncError(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, http.client.HTTPException) as exc:
            raise SyncError(f"{url}: {getattr(exc, 'reason', exc)} (the partial download is kept)") from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise SyncError(f"disk full while downloading {dest.name}") from None
            raise SyncError(f"{url}: {exc}") from None
        if have + fetched < length:
            raise SyncError(
                f"{url}: the connection closed after {have + fetched} of {length} bytes (kept, resumed next time)"
            )
    os.replace(partial, dest)
    return fetched


class SyncClient:
    """Syncs ``DATA_DIR/kb.sqlite`` from the repository of ``settings.sync``.

    Args:
        settings: the appliance's settings (``[sync]``, the data dir, the ingest limits).
        on_installed: called with the new build after a swap (a running kiosk reloads).
        embedder: the appliance's embedding model (shared with the answering thread): the new
            build gets the previous version's vectors and this model embeds the guides that
            changed (:func:`appliance.sync.build.carry_vectors`); None: only the carried ones.

    Raises:
        SyncError: (from :meth:`sync`) see the module docstring.
    """

    def __init__(
        self,
        settings: Settings,
        on_installed: Callable[[Installed], None] | None = None,
        embedder: Embedder | None = None,
    ):
        self.settings = settings
        self.embedder = embedder
        self.cfg = settings.sync
        self.dir = settings.sync_dir
        self.versions = settings.data_dir / VERSIONS_DIR
        self.state_path = self.dir / STATE_FILE
        self.on_installed = on_installed

    def state(self) -> SyncState:
        return SyncState.load(self.state_path)

    def _updater(self):
        from tuf.ngclient import Updater
        from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

        if not self.cfg.url:
            raise SyncError("no repository: set [sync] url")
        if self.cfg.root is None:
            raise SyncError("no trusted root: set [sync] root to the root file `kiosk publish init` wrote")
        meta = self.dir / "metadata"
        meta.mkdir(parents=True, exist_ok=True)
        bootstrap = None
        if not (meta / "root.json").exists():
            try:
                bootstrap = self.cfg.root.read_bytes()
            except OSError as exc:
                raise SyncError(f"trusted root {self.cfg.root}: {exc.strerror}") from exc
        base = self.cfg.url.rstrip("/")
        try:
            return Updater(
                str(meta),
                f"{base}/metadata/",
                str(self.dir / "bundles"),
                f"{base}/targets/",
                fetcher=Urllib3Fetcher(socket_timeout=int(max(1, self.cfg.timeout_s))),
                bootstrap=bootstrap,
            )
        except Exception as exc:
            raise SyncError(f"trusted root unusable: {exc}") from exc

    def offered(self) -> dict[str, Any]:
        """Refresh the signed metadata and return channel -> TargetFile (None for a channel the
        repository does not have).

        Raises:
            SyncError: the repository cannot be reached, or TUF refused its metadata (bad
                signature, an older version than already seen, expired), or it has none of the
                channels.
        """
        from tuf.api import exceptions as tuf_errors

        updater = self._updater()
        try:
            updater.refresh()
            infos = {c: updater.get_targetinfo(channel_target(c)) for c in self.cfg.channels}
        except tuf_errors.ExpiredMetadataError as exc:
            raise SyncError(f"the repository's metadata has expired (or this clock is wrong): {exc}") from None
        except tuf_errors.RepositoryError as exc:
            raise SyncError(f"the repository's metadata was refused: {type(exc).__name__}: {exc}") from None
        except tuf_errors.DownloadError as exc:
            raise SyncError(f"the repository cannot be reached: {type(exc).__name__}: {exc}") from None
        if all(i is None for i in infos.values()):
            raise SyncError(f"the repository has none of the channels {', '.join(infos)}")
        return infos

    def sync(self, *, force: bool = False) -> SyncReport:
        """Bring the installed knowledge base to what the repository offers (see the module
        docstring); ``force`` rebuilds even when every channel is current.

        One sync runs at a time per data dir (``kiosk run``'s background loop and a ``kiosk sync``
        would otherwise both build, swap and write the state): a second one fails at once.

        Raises:
            SyncError: nothing was installed; ``state.json`` records why (another sync running
                is not recorded: that one records its own outcome).
        """
        from filelock import Timeout

        from appliance.locking import exclusive

        try:
            with exclusive(self.dir / "sync.lock", timeout_s=0):
                return self._sync_locked(force)
        except Timeout:
            raise SyncError("another sync is running on this kiosk") from None

    def _sync_locked(self, force: bool) -> SyncReport:
        state = self.state()
        state.last_attempt = _now()
        try:
            report = self._sync(state, force)
        except SyncError as exc:
            state.last_error = f"{_now()}: {exc}"
            state.save(self.state_path)
            log.warning("sync failed: %s", exc)
            raise
        state.last_success = _now()
        state.last_error = None
        state.save(self.state_path)
        return report

    def _sync(self, state: SyncState, force: bool) -> SyncReport:
        infos = self.offered()
        missing = [c for c, i in infos.items() if i is None]
        infos = {c: i for c, i in infos.items() if i is not None}
        offered = {c: int(i.custom.get("version", 0)) for c, i in infos.items()}
        report = SyncReport(offered)
        if missing:  # e.g. a community that has not published yet: the others are installed
            report.notes.append(f"the repository has no channel {', '.join(missing)} yet")
        current = state.current_entry()
        have = current.channels if current is not None else {}
        for c, v in offered.items():
            if c in have and v < have[c]:
                raise SyncError(f"channel {c}: the repository offers version {v}, older than the installed {have[c]}")
        if have == offered and not force:
            return report
        if state.skip and all(offered.get(c, 0) <= v for c, v in state.skip.items()) and not force:
            report.notes.append("the offered versions were rolled back from: not installed again")
            return report
        bundles = self.dir / "bundles"
        bundles.mkdir(parents=True, exist_ok=True)
        paths = {}
        for c, info in infos.items():
            sha = info.hashes["sha256"]
            path = bundles / f"{sha}.bundle.tar.gz"
            if info.length > self.cfg.max_bundle_mb * 2**20:
                raise SyncError(f"channel {c}: bundle of {info.length} bytes, more than [sync] max_bundle_mb")
            if not path.exists():
                url = f"{self.cfg.url.rstrip('/')}/targets/channels/{c}/{sha}.bundle.tar.gz"
                report.downloaded_bytes += _fetch_resumable(url, path, info.length, self.cfg.timeout_s)
            try:
                with open(path, "rb") as f:
                    info.verify_length_and_hashes(f)
            except Exception as exc:
                path.unlink(missing_ok=True)
                raise SyncError(
                    f"channel {c}: the download does not match its signed length and sha256 ({exc})"
                ) from None
            paths[c] = path
        report.installed = self._build_and_install(state, paths, offered, report)
        self._prune(state, bundles, {p.name for p in paths.values()})
        return report

    def _build_and_install(
        self, state: SyncState, paths: dict[str, Path], offered: dict[str, int], report: SyncReport
    ) -> Installed:
        from appliance.bootstrap import make_analyzer
        from appliance.site import SiteError, load_site, load_synonyms, site_file_in_use
        from appliance.sync.build import (
            HIT_RATE_SLACK,
            build_kb,
            carry_vectors,
            integrity_ok,
            merge_sources,
            regression,
        )

        staging = self.dir / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        out: Path | None = None
        swapped = False
        try:
            staged: list[tuple[Path, Manifest]] = []
            for c in paths:  # in [sync] channels order
                folder = staging / "bundles" / c
                try:
                    manifest = open_bundle(paths[c], folder)
                except BundleError as exc:
                    raise SyncError(f"channel {c}: {exc}") from None
                if manifest.channel != c or manifest.version != offered[c]:
                    raise SyncError(f"channel {c}: the bundle says channel {manifest.channel!r} v{manifest.version}")
                staged.append((folder, manifest))
            # The merged sources stay beside the build (sources shown with answers, tours' images).
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            name = f"kb-{stamp}.sqlite"
            out = self.versions / name
            merged = self.versions / f"kb-{stamp}.sources"
            try:
                merge_sources(staged, merged)
            except (ValueError, OSError) as exc:
                raise SyncError(f"merging the channels: {exc}") from None
            # The site profile: the last channel's, when it has one and it validates.
            site_src = next((f / "files" / "site.toml" for f, m in reversed(staged) if m.site_file is not None), None)
            try:
                if site_src is not None:
                    site = load_site(site_src)
                else:
                    site = load_site(site_file_in_use(self.settings))
                synonyms = load_synonyms(merged / "synonyms.toml") if (merged / "synonyms.toml").exists() else None
            except SiteError as exc:
                raise SyncError(f"the bundle's site profile does not validate: {exc}") from None
            if not site.duty_phone.strip() or not site.property_hotline.strip():
                raise SyncError(
                    "the site profile lacks the duty phone or the property hotline the emergency scripts say"
                )
            if synonyms is not None:
                analyzer = Analyzer(synonyms, cache_dir=self.settings.cache_dir)
            else:
                analyzer = make_analyzer(self.settings, site)
            try:
                kb, ingest = build_kb(merged, out, analyzer, self.settings)
            except OSError as exc:
                raise SyncError(f"building the knowledge base: {exc}") from None
            try:
                problems = [f"{Path(o.path).name}: {o.reason}" for o in ingest.failed]
                check = integrity_ok(kb)
                if check != "ok":
                    problems.append(f"integrity_check: {check}")
                titles = {d.title for d in kb.documents()}
                for _, manifest in staged:
                    questions = [q for q in manifest.questions if q.title in titles]
                    rate, misses = regression(kb, questions)
                    if rate < manifest.hit_rate - HIT_RATE_SLACK:
                        problems.append(
                            f"channel {manifest.channel}: {rate:.0%} of its questions find their guide, "
                            f"published with {manifest.hit_rate:.0%} (e.g. {misses[0][0]!r})"
                        )
                if not problems:
                    try:
                        vectors = carry_vectors(self.settings.kb_file, kb, self.embedder)
                    except Exception as exc:  # the build stays keyword-only; the sync goes on
                        log.warning("vectors not carried over to the new knowledge base", exc_info=True)
                        vectors = f"vectors not carried over ({exc.__class__.__name__}: {exc}): searching by keywords"
                    if vectors:
                        report.notes.append(vectors)
            finally:
                kb.close()
            if problems:
                raise SyncError("the new knowledge base failed its checks: " + "; ".join(problems))
            self._install_site(site_src, merged / "synonyms.toml")
            entry = Installed(name, dict(offered), _now())
            files = {f"{m.channel}/{f.path}": f.sha256 for _, m in staged for f in m.files}
            previous = state.current_entry()
            _write_json(out.with_suffix(".files.json"), files)
            self._swap(name)
            swapped = True
            state.installed.insert(0, entry)
            state.current = name
            state.skip = {}
            report.notes.append(f"installed {entry.describe()} ({len(titles)} guides)")
            if previous is not None:
                report.changes = file_changes(self.versions / previous.file, files)
                report.notes.append(report.changes.describe())
            if self.on_installed is not None:
                self.on_installed(entry)
            return entry
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if out is not None and not swapped:
                _remove_db(out)  # a build that failed, or was interrupted, leaves nothing behind

    def _install_site(self, site_src: Path | None, synonyms: Path) -> None:
        """Put the channels' merged synonyms and the bundle's ``site.toml`` (when one came) in the
        data dir, atomically: a site profile there uses the synonyms beside it (a profile elsewhere
        names them with ``synonyms_file``)."""
        data = self.settings.data_dir
        for src, name in ((synonyms, "synonyms.toml"), (site_src, "site.toml")):
            if src is not None and src.exists():
                tmp = data / f".{name}.tmp"
                shutil.copyfile(src, tmp)
                os.replace(tmp, data / name)

    def _swap(self, name: str) -> None:
        swap_kb(self.settings, name)

    def _prune(self, state: SyncState, bundles: Path, keep: set[str]) -> None:
        """Keep the newest ``keep_versions`` builds (and the current one) and the bundles in use;
        delete the rest, and builds a killed sync left behind."""
        keepers = state.installed[: self.cfg.keep_versions]
        if state.current and all(i.file != state.current for i in keepers):
            keepers += [i for i in state.installed if i.file == state.current]
        for old in state.installed:
            if old not in keepers:
                _remove_db(self.versions / old.file)
        state.installed = keepers
        # Builds no entry names: left by a sync that was killed before its swap.
        named = {i.file for i in keepers} | {"kb-local.sqlite"}
        for orphan in self.versions.glob("kb-*.sqlite"):
            if orphan.name not in named:
                _remove_db(orphan)
        for orphan in self.versions.glob("kb-*.sources"):
            if orphan.name.removesuffix(".sources") + ".sqlite" not in named:
                shutil.rmtree(orphan, ignore_errors=True)
        for f in bundles.glob("*.bundle.tar.gz"):
            if f.name not in keep:
                f.unlink(missing_ok=True)


def _remove_db(path: Path) -> None:
    """Delete a built knowledge base, its SQLite companions and its sources folder."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.with_suffix(".files.json").unlink(missing_ok=True)
    shutil.rmtree(path.with_suffix(".sources"), ignore_errors=True)


def swap_kb(settings: Settings, name: str) -> None:
    """Point ``settings.kb_file`` at ``DATA_DIR/kb-versions/<name>`` (a symbolic link replaced
    atomically). A knowledge base that is a plain file (built locally, before the first sync) is
    kept as ``kb-versions/kb-local.sqlite`` first.
    """
    kb_file = settings.kb_file
    versions = settings.data_dir / VERSIONS_DIR
    if kb_file.exists() and not kb_file.is_symlink():
        versions.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(kb_file) + suffix)
            if src.exists():
                os.replace(src, versions / f"kb-local.sqlite{suffix}")
    link = kb_file.with_name(f".{kb_file.name}.link")
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(versions / name, kb_file.parent), link)
    os.replace(link, kb_file)


def kb_versions(settings: Settings) -> tuple[SyncState, list[tuple[Installed, bool]]]:
    """The kept builds, newest first, each with whether it is the one in use."""
    state = SyncState.load(settings.sync_dir / STATE_FILE)
    return state, [(i, i.file == state.current) for i in state.installed]


def rollback(settings: Settings, to: str | None = None) -> Installed:
    """Point the knowledge base back at an older build: the one before the current one, or the
    build named ``to``. Sync will not install the versions rolled back from again; only newer.

    Raises:
        SyncError: no older build is kept, or ``to`` is not one.
    """
    state = SyncState.load(settings.sync_dir / STATE_FILE)
    names = [i.file for i in state.installed]
    if to is not None:
        target = next((i for i in state.installed if to in (i.file, i.file.removesuffix(".sqlite"))), None)
        if target is None:
            raise SyncError(f"no kept version {to!r} (kept: {', '.join(names) or 'none'})")
    else:
        pos = names.index(state.current) if state.current in names else -1
        if pos < 0 or pos + 1 >= len(state.installed):
            raise SyncError("no older version is kept to roll back to")
        target = state.installed[pos + 1]
    current = state.current_entry()
    swap_kb(settings, target.file)
    if current is not None:
        state.skip = dict(current.channels)
    state.current = target.file
    state.save(settings.sync_dir / STATE_FILE)
    return target
