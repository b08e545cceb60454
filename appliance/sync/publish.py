"""The street office's side: a TUF repository of static files, and publishing bundles into it.

The Update Framework (TUF, https://theupdateframework.io, specification 1.0) is used through
python-tuf's metadata API (``tuf.api.metadata``): it gives signatures, version and expiry checks
against rollback and freeze attacks, and root key rotation; nothing here invents a signature
scheme. Layout (any web server, CDN or object store can serve ``REPO``)::

    REPO/metadata/1.root.json, 2.root.json ...     root versions (a kiosk walks through rotations)
    REPO/metadata/timestamp.json                    the only file rewritten in place (atomically)
    REPO/metadata/N.snapshot.json, N.targets.json   consistent snapshots
    REPO/targets/channels/<channel>/<sha256>.bundle.tar.gz

    KEYS/root.pem                                   the root key: move it to offline storage
    KEYS/targets.pem, snapshot.pem, timestamp.pem   the online keys publishing uses

Each channel is one target, ``channels/<channel>/bundle.tar.gz``, whose ``custom`` field carries
the bundle's version and time; ``consistent_snapshot`` makes every version its own file, so a
kiosk mid-download never sees a file change under it.

Expiry (days): root 365, targets 90, snapshot 30, timestamp 7. ``kiosk publish refresh`` renews
the online roles (run it daily from cron); a kiosk refuses expired metadata (a freeze attack looks
just like it) and keeps answering from what it has.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from appliance.sync.bundle import Manifest

__all__ = [
    "EXPIRY_DAYS",
    "ONLINE_ROLES",
    "PublishError",
    "RepoState",
    "channel_target",
    "default_keys_dir",
    "init_repository",
    "publish_bundle",
    "refresh",
    "rotate_key",
]

ONLINE_ROLES = (Targets.type, Snapshot.type, Timestamp.type)
EXPIRY_DAYS = {Root.type: 365, Targets.type: 90, Snapshot.type: 30, Timestamp.type: 7}
#: Bundles of a channel kept in the repository (kiosks mid-download, and rollback on a kiosk, need
#: the recent ones; older ones are deleted).
KEEP_BUNDLES = 3
_SERIALIZER = JSONSerializer(compact=False)


class PublishError(RuntimeError):
    """The repository or its keys cannot be used as asked: the message says what to do."""


def channel_target(channel: str) -> str:
    """The TUF target path of a channel's bundle."""
    return f"channels/{channel}/bundle.tar.gz"


def default_keys_dir(repo: Path) -> Path:
    """Where keys go when ``--keys`` is not given: beside the repository, never inside it
    (the repository folder is what gets served)."""
    return repo.resolve().parent / f"{repo.resolve().name}-keys"


def _expiry(role: str, now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.timezone.utc)
    return (now + dt.timedelta(days=EXPIRY_DAYS[role])).replace(microsecond=0)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _signer(keys: Path, role: str) -> CryptoSigner:
    path = keys / f"{role}.pem"
    try:
        private = load_pem_private_key(path.read_bytes(), None)
    except FileNotFoundError:
        hint = " (the offline root key: bring it back from offline storage)" if role == Root.type else ""
        raise PublishError(f"no {role} key at {path}{hint}") from None
    except (ValueError, TypeError) as exc:
        raise PublishError(f"{path}: not a private key: {exc}") from exc
    return CryptoSigner(private)


def _write(md: Metadata, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    md.to_file(str(tmp), _SERIALIZER)
    os.replace(tmp, path)


@dataclass
class RepoState:
    """The repository's current metadata, read from ``REPO/metadata``."""

    repo: Path
    root: Metadata[Root]
    targets: Metadata[Targets]
    snapshot: Metadata[Snapshot]
    timestamp: Metadata[Timestamp]

    @classmethod
    def load(cls, repo: Path) -> RepoState:
        """Read the newest root and the metadata the timestamp points to.

        Raises:
            PublishError: not a repository made by ``kiosk publish init``.
        """
        meta = repo / "metadata"
        try:
            roots = sorted(meta.glob("*.root.json"), key=lambda p: int(p.name.split(".")[0]))
            if not roots:
                raise FileNotFoundError(meta / "1.root.json")
            root = Metadata[Root].from_file(str(roots[-1]))
            ts = Metadata[Timestamp].from_file(str(meta / "timestamp.json"))
            snap = Metadata[Snapshot].from_file(str(meta / f"{ts.signed.snapshot_meta.version}.snapshot.json"))
            tv = snap.signed.meta["targets.json"].version
            targets = Metadata[Targets].from_file(str(meta / f"{tv}.targets.json"))
        except (OSError, ValueError, KeyError) as exc:
            raise PublishError(
                f"{repo} is not a kiosk repository ({exc}); create one with `kiosk publish init`"
            ) from exc
        return cls(repo, root, targets, snap, ts)

    def channel_version(self, channel: str) -> int:
        """The published version of ``channel`` (0: never published)."""
        info = self.targets.signed.targets.get(channel_target(channel))
        return int(info.custom.get("version", 0)) if info is not None else 0

    def channels(self) -> dict[str, dict]:
        """Channel -> its target's custom fields (version, created, sha256 ...)."""
        out = {}
        for path, info in self.targets.signed.targets.items():
            if path.startswith("channels/") and path.endswith("/bundle.tar.gz"):
                out[path.split("/")[1]] = {**info.custom, "length": info.length}
        return out

    def sign_and_write(self, keys: Path, *, targets_changed: bool) -> None:
        """Bump and sign targets (when changed), snapshot and timestamp, and write them in that
        order, the timestamp last and atomically: a kiosk sees the old set or the new one."""
        meta = self.repo / "metadata"
        if targets_changed:
            _resign(self.targets, keys, meta / f"{self.targets.signed.version + 1}.targets.json")
        self.snapshot.signed.meta["targets.json"] = MetaFile(version=self.targets.signed.version)
        _resign(self.snapshot, keys, meta / f"{self.snapshot.signed.version + 1}.snapshot.json")
        self.timestamp.signed.snapshot_meta = MetaFile(version=self.snapshot.signed.version)
        _resign(self.timestamp, keys, meta / "timestamp.json")


def _resign(md: Metadata, keys: Path, path: Path) -> None:
    """A new version of ``md``: version + 1, a fresh expiry, signed by its role's key, written to ``path``."""
    role = md.signed.type
    md.signed.version += 1
    md.signed.expires = _expiry(role)
    md.signatures.clear()
    md.sign(_signer(keys, role))
    _write(md, path)


def init_repository(repo: Path, keys: Path) -> Path:
    """Create an empty repository at ``repo`` and its keys at ``keys`` (Ed25519, PKCS#8 PEM,
    mode 0600, folder 0700): one root key, one key per online role.

    Returns:
        The root metadata file to install on every kiosk (``[sync] root``).

    Raises:
        PublishError: ``repo`` already has metadata, ``keys`` already has keys, or ``keys`` is
            inside ``repo`` (the keys would be served with it).
    """
    repo, keys = repo.resolve(), keys.resolve()
    if keys.is_relative_to(repo):
        raise PublishError(f"keys {keys} must not be inside the repository {repo}: everything there is served")
    if (repo / "metadata").exists():
        raise PublishError(f"{repo} already has metadata: it is a repository")
    if any(keys.glob("*.pem")):
        raise PublishError(f"{keys} already has keys")
    signers = {role: CryptoSigner.generate_ed25519() for role in (Root.type, *ONLINE_ROLES)}
    for role, signer in signers.items():
        _write_private(keys / f"{role}.pem", signer.private_bytes)
    root = Root(expires=_expiry(Root.type), consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)
    meta = repo / "metadata"
    meta.mkdir(parents=True)
    (repo / "targets").mkdir(exist_ok=True)
    root_md = Metadata(root)
    root_md.sign(signers[Root.type])
    _write(root_md, meta / "1.root.json")
    targets = Metadata(Targets(expires=_expiry(Targets.type)))
    targets.sign(signers[Targets.type])
    _write(targets, meta / "1.targets.json")
    snapshot = Metadata(Snapshot(expires=_expiry(Snapshot.type)))
    snapshot.sign(signers[Snapshot.type])
    _write(snapshot, meta / "1.snapshot.json")
    timestamp = Metadata(Timestamp(expires=_expiry(Timestamp.type)))
    timestamp.sign(signers[Timestamp.type])
    _write(timestamp, meta / "timestamp.json")
    return meta / "1.root.json"


def publish_bundle(repo: Path, keys: Path, tarball: Path, manifest: Manifest) -> TargetFile:
    """Add ``tarball`` as the new bundle of its channel and sign it in.

    Raises:
        PublishError: the bundle's version is not newer than the channel's, or a key is missing.
    """
    state = RepoState.load(repo)
    current = state.channel_version(manifest.channel)
    if manifest.version <= current:
        raise PublishError(
            f"channel {manifest.channel!r} is at version {current}; bundle {manifest.version} is not newer"
        )
    path = channel_target(manifest.channel)
    info = TargetFile.from_file(path, str(tarball), ["sha256"])
    info.unrecognized_fields["custom"] = {
        "version": manifest.version,
        "created": manifest.created,
        "files": len(manifest.files),
    }
    folder = repo / "targets" / "channels" / manifest.channel
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{info.hashes['sha256']}.bundle.tar.gz"
    shutil.copyfile(tarball, dest.with_name(dest.name + ".tmp"))
    os.replace(dest.with_name(dest.name + ".tmp"), dest)
    state.targets.signed.targets[path] = info
    state.sign_and_write(keys, targets_changed=True)
    bundles = sorted(folder.glob("*.bundle.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in bundles[KEEP_BUNDLES:]:
        old.unlink()
    return info


def refresh(repo: Path, keys: Path) -> dict[str, str]:
    """Re-sign targets, snapshot and timestamp with fresh expiry dates (run daily).

    Returns:
        Role -> its new expiry, ISO 8601.
    """
    state = RepoState.load(repo)
    state.sign_and_write(keys, targets_changed=True)
    return {
        role: md.signed.expires.isoformat()
        for role, md in (("targets", state.targets), ("snapshot", state.snapshot), ("timestamp", state.timestamp))
    }


def rotate_key(repo: Path, keys: Path, role: str) -> Path:
    """Replace ``role``'s key: a new key pair, a new root version listing it (signed by the old
    root key and, for the root role, the new one too, so kiosks can walk from one to the other),
    then the online metadata re-signed. The old private key is kept as ``<role>.pem.old``.

    Returns:
        The new root metadata file.

    Raises:
        PublishError: unknown role, or a key is missing (the root key is always needed).
    """
    if role not in (Root.type, *ONLINE_ROLES):
        raise PublishError(f"unknown role {role!r}: root, targets, snapshot or timestamp")
    state = RepoState.load(repo)
    old_root: Signer = _signer(keys, Root.type)
    new = CryptoSigner.generate_ed25519()
    root = state.root.signed
    for keyid in list(root.roles[role].keyids):
        root.revoke_key(keyid, role)
    root.add_key(new.public_key, role)
    root.version += 1
    root.expires = _expiry(Root.type)
    state.root.signatures.clear()
    state.root.sign(old_root, append=True)
    if role == Root.type:
        state.root.sign(new, append=True)
    pem = keys / f"{role}.pem"
    os.replace(pem, keys / f"{role}.pem.old")
    _write_private(pem, new.private_bytes)
    path = repo / "metadata" / f"{root.version}.root.json"
    _write(state.root, path)
    state.sign_and_write(keys, targets_changed=True)
    return path
