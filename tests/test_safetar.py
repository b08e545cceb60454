"""models.safetar: untrusted tarballs unpacked by the same rules with and without tarfile's data filter.

Every test runs twice: with this Python's ``tarfile.data_filter`` (skipped where it has none, as
Debian 12's 3.11.2) and with it taken away, as on such a Python.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.sync.bundle import BundleError, open_bundle, write_bundle
from models import safetar, transfer
from models.store import ModelError, ModelStore


@pytest.fixture(params=["data_filter", "fallback"])
def branch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "data_filter":
        if not safetar.has_data_filter():
            pytest.skip("this Python's tarfile has no data filter")
    else:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

        def no_extractall(*args, **kwargs):
            raise AssertionError("extractall called without the data filter")

        monkeypatch.setattr(tarfile.TarFile, "extractall", no_extractall)
        assert not safetar.has_data_filter()
    return request.param


def _archive(path: Path, *members: tuple[str, Callable[[tarfile.TarInfo], None] | None, bytes]) -> Path:
    """A tarball of ``(name, edit, data)`` members; ``edit`` sets the type, mode or link of the header."""
    with tarfile.open(path, "w:gz") as tar:
        for name, edit, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            if edit:
                edit(info)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _symlink(target: str) -> Callable[[tarfile.TarInfo], None]:
    def edit(info: tarfile.TarInfo) -> None:
        info.type, info.linkname, info.size = tarfile.SYMTYPE, target, 0

    return edit


def _hardlink(target: str) -> Callable[[tarfile.TarInfo], None]:
    def edit(info: tarfile.TarInfo) -> None:
        info.type, info.linkname, info.size = tarfile.LNKTYPE, target, 0

    return edit


def _type(kind: bytes, mode: int = 0o644) -> Callable[[tarfile.TarInfo], None]:
    def edit(info: tarfile.TarInfo) -> None:
        info.type, info.size, info.mode = kind, 0, mode
        info.devmajor, info.devminor = 1, 3

    return edit


def _mode(mode: int) -> Callable[[tarfile.TarInfo], None]:
    def edit(info: tarfile.TarInfo) -> None:
        info.mode = mode

    return edit


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_files_and_folders_unpack_with_their_modes_sanitised(tmp_path: Path, branch: str) -> None:
    archive = _archive(
        tmp_path / "ok.tar.gz",
        ("top", _type(tarfile.DIRTYPE, 0o777), b""),
        ("top/run.sh", _mode(0o6777), b"#!/bin/sh\n"),  # setuid, setgid, world-writable
        ("top/sub/data.bin", _mode(0o444), b"\x00" * 3000),
        ("./plain.txt", _mode(0o640), b"plain"),
        ("other/deep/leaf.txt", None, b"leaf"),  # its folders are not members
        ("top/dup.txt", None, b"first"),
        ("top/dup.txt", None, b"second"),  # a later member of the same name wins, as in tarfile
    )
    dest = tmp_path / "out"
    dest.mkdir()
    with tarfile.open(archive) as tar:
        safetar.extract(tar, tar.getmembers(), dest)
    assert _tree(dest) == {
        "top",
        "top/run.sh",
        "top/sub",
        "top/sub/data.bin",
        "plain.txt",
        "other",
        "other/deep",
        "other/deep/leaf.txt",
        "top/dup.txt",
    }
    assert (dest / "top/sub/data.bin").read_bytes() == b"\x00" * 3000
    assert (dest / "top/dup.txt").read_text() == "second"
    assert stat.S_IMODE((dest / "top/run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "top/sub/data.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "plain.txt").stat().st_mode) == 0o640
    assert not (dest / "top").is_symlink()


HOSTILE = [  # (member given the folder outside the destination, what the refusal says)
    pytest.param(lambda out: ("../evil.txt", None, b"x"), "'..'", id="dotdot"),
    pytest.param(lambda out: ("a/../../evil.txt", None, b"x"), "'..'", id="dotdot-inside"),
    pytest.param(lambda out: (f"{out}/evil.txt", None, b"x"), "absolute", id="absolute"),
    pytest.param(lambda out: ("link", _symlink(str(out)), b""), "symbolic link", id="symlink-out"),
    pytest.param(lambda out: ("rel", _symlink("../outside"), b""), "symbolic link", id="symlink-relative"),
    pytest.param(lambda out: ("hard", _hardlink(f"{out}/victim.txt"), b""), "hard link", id="hardlink"),
    pytest.param(lambda out: ("null", _type(tarfile.CHRTYPE), b""), "a device", id="char-device"),
    pytest.param(lambda out: ("disk", _type(tarfile.BLKTYPE), b""), "a device", id="block-device"),
    pytest.param(lambda out: ("pipe", _type(tarfile.FIFOTYPE), b""), "a FIFO", id="fifo"),
]


@pytest.mark.parametrize(("member", "why"), HOSTILE)
def test_hostile_members_are_refused_before_anything_is_written(
    tmp_path: Path, branch: str, member: Callable[[Path], tuple], why: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("untouched")
    archive = _archive(tmp_path / "evil.tar.gz", ("good.txt", None, b"good"), member(outside))
    dest = tmp_path / "dest"
    dest.mkdir()
    with tarfile.open(archive) as tar, pytest.raises(safetar.UnsafeMember, match=why):
        safetar.extract(tar, tar.getmembers(), dest)
    assert _tree(dest) == set()  # not even the good member before it
    assert _tree(outside) == {"victim.txt"} and (outside / "victim.txt").read_text() == "untouched"
    assert not (tmp_path / "evil.txt").exists()


def test_a_path_through_a_link_already_in_the_folder_is_refused(tmp_path: Path, branch: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "escape")
    archive = _archive(tmp_path / "a.tar.gz", ("escape/evil.txt", None, b"x"))
    with tarfile.open(archive) as tar, pytest.raises(safetar.UnsafeMember, match="resolves outside"):
        safetar.extract(tar, tar.getmembers(), dest)
    assert _tree(outside) == set()


def test_a_bundle_opens_and_a_hostile_one_is_refused(tmp_path: Path, branch: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "guide.md").write_text("# 指南\n\n## 所需材料\n\n- 身份证\n", encoding="utf-8")
    manifest = write_bundle(tmp_path / "b.tar.gz", {"guide.md": src / "guide.md"}, channel="street", version=1)
    assert open_bundle(tmp_path / "b.tar.gz", tmp_path / "open").files == manifest.files
    assert (tmp_path / "open/files/guide.md").read_text(encoding="utf-8").startswith("# 指南")
    evil = _archive(tmp_path / "evil.tar.gz", ("manifest.json", None, b"{}"), ("files/../../escaped.md", None, b"x"))
    with pytest.raises(BundleError, match="'..'"):
        open_bundle(evil, tmp_path / "open2")
    assert not (tmp_path / "escaped.md").exists() and _tree(tmp_path / "open2") == set()


def test_a_model_archive_imports_and_a_hostile_one_is_refused(tmp_path: Path, branch: str) -> None:
    data = b"weights of a model outside the catalogue"
    manifest = {
        "name": "mine",
        "role": "llm",
        "license": "test",
        "files": [{"name": "w.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}],
    }
    store = ModelStore(tmp_path / "models")
    good = _archive(
        tmp_path / "m.tar.gz", ("mine/manifest.json", None, json.dumps(manifest).encode()), ("mine/w.bin", None, data)
    )
    [outcome] = transfer.import_archive(store, good)
    assert outcome.status == "installed" and store.installed("mine") is not None
    # Absolute names: tarfile's data filter strips the "/", and the folder was once named "/", so
    # the store's install wrote (and removed) at the file system's root; refused outright now.
    # (Made under tmp_path, so that even a regression could not reach the root: the folder would
    # be "/" but the files' names inside it would not match the manifest's.)
    absolute = _archive(
        tmp_path / "abs.tar.gz",
        (f"{tmp_path}/manifest.json", None, json.dumps(manifest).encode()),
        (f"{tmp_path}/w.bin", None, data),
    )
    with pytest.raises(ModelError, match="absolute path; nothing was written"):
        transfer.import_archive(ModelStore(tmp_path / "other"), absolute)
    assert not (tmp_path / "w.bin").exists()
    link = _archive(tmp_path / "link.tar.gz", ("mine/w.bin", _symlink("/etc/passwd"), b""))
    with pytest.raises(ModelError, match="symbolic link"):
        transfer.import_archive(ModelStore(tmp_path / "third"), link)


@pytest.mark.parametrize("name", ["..", "../escape", "a/b", ".", ""])
def test_a_model_name_from_an_untrusted_manifest_stays_inside_the_store(tmp_path: Path, name: str) -> None:
    """A folder's manifest.json names the models (``kiosk models import DIR`` from a USB stick):
    a name that is not one folder name is refused before the store writes or removes anything.
    The names point inside tmp_path only, so a regression could not reach further."""
    victim = tmp_path / "escape"
    victim.mkdir()
    (victim / "keep.txt").write_text("untouched")
    src = tmp_path / "stick"
    src.mkdir()
    data = b"weights"
    (src / "w.bin").write_bytes(data)
    entry = {
        "name": name,
        "role": "llm",
        "files": [{"path": "w.bin", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}],
    }
    (src / "manifest.json").write_text(json.dumps([entry]), encoding="utf-8")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelError, match="not a model name"):
        store.folder(name)
    try:
        outcomes = transfer.import_folder(store, src)
    except ModelError:
        outcomes = []
    assert all(o.status == "failed" for o in outcomes)
    assert (victim / "keep.txt").read_text() == "untouched" and _tree(victim) == {"keep.txt"}
    assert {p.name for p in tmp_path.iterdir()} <= {"escape", "models", "stick"}  # nothing new beside them
