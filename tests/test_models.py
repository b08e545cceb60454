"""The model catalogue, installing by download or archive, verification, and loading what was installed."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from appliance.config import Settings
from models import transfer
from models.catalog import Catalog, CatalogError, ModelEntry, ModelFile
from models.llm import LlamaChatModel
from models.loader import load_llm
from models.store import ModelError, ModelStore


def test_shipped_catalogue_is_pinned_and_complete() -> None:
    cat = Catalog.load()
    roles = {e.role for e in cat.models.values()}
    assert roles == {"llm", "embedding", "asr", "tts", "vad"}
    for name in cat.defaults["zh"]:
        assert name in cat.models
    for e in cat.models.values():
        assert e.license and e.description and e.files
        if e.repo:
            assert re.fullmatch(r"[0-9a-f]{40}", e.revision)
        if e.role in ("llm", "embedding", "tts", "vad"):
            assert e.main_file, e.name
        for f in e.files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
    llm = cat.get("qwen2.5-1.5b-instruct-q4_k_m")
    assert llm.repo == "Qwen/Qwen2.5-1.5B-Instruct-GGUF" and llm.files[0].size == 1117320736
    with pytest.raises(CatalogError, match="unknown model"):
        cat.get("gpt-5")


def test_catalogue_errors(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[models.x]\nrole = "llm"\nrepo = "a/b"\nrevision = "main"\nfiles = [{path = "x.gguf"}]\n')
    with pytest.raises(CatalogError, match="40-hex"):
        Catalog.load(f)
    f.write_text('[models.x]\nrole = "painter"\nfiles = [{path = "x"}]\n')
    with pytest.raises(CatalogError, match="unknown role"):
        Catalog.load(f)
    f.write_text('[defaults]\nzh = ["nope"]\n')
    with pytest.raises(CatalogError, match="unknown models"):
        Catalog.load(f)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fake_catalog(content: bytes) -> Catalog:
    entry = ModelEntry(
        name="fake-llm",
        role="llm",
        description="test",
        license="MIT",
        repo="org/fake",
        revision="a" * 40,
        main="weights/fake.gguf",
        files=(ModelFile("weights/fake.gguf", len(content), _sha(content)),),
    )
    return Catalog({"fake-llm": entry}, {"zh": ["fake-llm"]})


def test_status_of_an_empty_store(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.status("qwen2.5-1.5b-instruct-q4_k_m").state == "missing"
    assert store.installed("qwen2.5-1.5b-instruct-q4_k_m") is None
    assert store.status("silero-vad-v6").state in ("installed", "unavailable")  # ships with faster-whisper
    assert store.local_models() == []


def test_import_a_local_model_then_load_it(tmp_path: Path, tiny_gguf: Path) -> None:
    """An archive with a model outside the catalogue (its manifest says what it is) installs and loads."""
    data = tiny_gguf.read_bytes()
    manifest = {
        "name": "tiny-llm",
        "role": "llm",
        "main": "tiny.gguf",
        "license": "test",
        "files": [{"name": "tiny.gguf", "size": len(data), "sha256": _sha(data)}],
    }
    archive = tmp_path / "models.tar.gz"
    archive.write_bytes(_tar({"tiny-llm/tiny.gguf": data, "tiny-llm/manifest.json": json.dumps(manifest).encode()}))
    settings = Settings(data_dir=tmp_path / "data", llm={"enabled": True, "model": "tiny-llm", "n_ctx": 1024})
    store = ModelStore(settings.models_path)
    [outcome] = transfer.import_archive(store, archive)
    assert outcome.status == "installed" and "own manifest" in outcome.detail
    assert store.status("tiny-llm").state == "installed" and store.local_models() == ["tiny-llm"]
    llm, note = load_llm(settings, store)
    assert note is None and isinstance(llm, LlamaChatModel) and llm.name == "tiny-llm"

    # export it and import it into another appliance
    out = transfer.export_archive(store, ["tiny-llm"], tmp_path / "export.tar")
    other = ModelStore(tmp_path / "other")
    assert [o.status for o in transfer.import_archive(other, out)] == ["installed"]
    assert other.verify("tiny-llm") == []

    # corruption after install is found by verify, and a truncated file makes it incomplete
    weights = store.folder("tiny-llm") / "tiny.gguf"
    raw = bytearray(weights.read_bytes())
    raw[100] ^= 0xFF
    weights.write_bytes(bytes(raw))
    assert "sha256 changed" in store.verify("tiny-llm")[0]
    weights.write_bytes(raw[:1000])
    assert store.status("tiny-llm").state == "incomplete" and store.installed("tiny-llm") is None


def test_import_checks_catalogue_models_against_the_catalogue(tmp_path: Path) -> None:
    good = b"GGUF real weights"
    store = ModelStore(tmp_path / "models", fake_catalog(good))
    bad_archive = tmp_path / "bad.tar.gz"
    bad_archive.write_bytes(_tar({"fake-llm/fake.gguf": b"GGUF tampered!!!!"}))
    [outcome] = transfer.import_archive(store, bad_archive)
    assert outcome.status == "failed" and "catalogue" in outcome.detail
    assert store.installed("fake-llm") is None and not store.folder("fake-llm").exists()
    ok_archive = tmp_path / "ok.tar.gz"
    ok_archive.write_bytes(_tar({"fake-llm/fake.gguf": good}))
    [outcome] = transfer.import_archive(store, ok_archive)
    assert outcome.status == "installed"
    assert store.installed("fake-llm").main_path.read_bytes() == good


def test_import_refuses_unsafe_or_unreadable_archives(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(_tar({"../outside.txt": b"x"}))
    with pytest.raises(ModelError):
        transfer.import_archive(store, evil)
    assert not (tmp_path / "outside.txt").exists()
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 10)
    with pytest.raises(ModelError, match="cannot read"):
        transfer.import_archive(store, junk)
    nomanifest = tmp_path / "nomanifest.tar"
    nomanifest.write_bytes(_tar({"mystery/weights.bin": b"123"}))
    [outcome] = transfer.import_archive(store, nomanifest)
    assert outcome.status == "failed" and "manifest.json" in outcome.detail


def test_pull_downloads_verifies_and_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = b"GGUF downloaded weights"
    calls = []

    def fake_download(repo_id, filename, *, revision, local_dir):
        calls.append((repo_id, filename, revision))
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(served)
        return str(path)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    store = ModelStore(tmp_path / "models", fake_catalog(good))

    served = b"GGUF something else entirely"
    with pytest.raises(ModelError, match="bytes|sha256"):
        transfer.pull(store, "fake-llm")
    assert store.installed("fake-llm") is None

    served = good
    installed = transfer.pull(store, "fake-llm")
    assert calls[-1] == ("org/fake", "weights/fake.gguf", "a" * 40)  # the pinned revision, not a branch
    assert installed.main_path == store.folder("fake-llm") / "fake.gguf"
    manifest = json.loads((store.folder("fake-llm") / "manifest.json").read_text())
    assert manifest["source"] == "huggingface:org/fake@" + "a" * 40 and manifest["files"][0]["verified"]
    assert not (store.root / ".staging" / "fake-llm").exists()


def test_pull_without_network_names_the_offline_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(*a, **k):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    store = ModelStore(tmp_path / "models", fake_catalog(b"x"))
    with pytest.raises(ModelError, match="kiosk models import"):
        transfer.pull(store, "fake-llm")
    with pytest.raises(ModelError, match="package"):
        transfer.pull(ModelStore(tmp_path / "m2"), "silero-vad-v6")


def _folder_catalog(files: dict[str, bytes]) -> Catalog:
    """A catalogue of two models that are on no hub: an ASR folder model and a one-file voice."""
    asr = ModelEntry(
        name="fake-asr",
        role="asr",
        description="test",
        license="MIT",
        obtain="get-fakes",
        files=tuple(ModelFile(p, len(d), _sha(d)) for p, d in files.items() if p.startswith("asr/")),
    )
    tts = ModelEntry(
        name="fake-tts",
        role="tts",
        description="test",
        license="MIT",
        obtain="get-fakes",
        main="voice.onnx",
        files=(ModelFile("voice.onnx", len(files["voice.onnx"]), _sha(files["voice.onnx"])),),
    )
    return Catalog({"fake-asr": asr, "fake-tts": tts}, {})


def test_import_a_folder_laid_out_like_get_real_models(tmp_path: Path) -> None:
    files = {"asr/model.bin": b"weights" * 100, "asr/config.json": b"{}", "voice.onnx": b"onnx" * 50}
    src = tmp_path / "real"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    extra = b"GGUF extra"
    (src / "extra.gguf").write_bytes(extra)
    manifest = [
        {
            "name": "fake-asr",
            "role": "asr",
            "files": [
                {"path": p, "sha256": _sha(d), "bytes": len(d)} for p, d in files.items() if p.startswith("asr/")
            ],
        },
        {
            "name": "extra-llm",
            "role": "llm",
            "licence": "test",
            "files": [{"path": "extra.gguf", "sha256": _sha(extra), "bytes": len(extra)}],
        },
    ]
    (src / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}

    store = ModelStore(tmp_path / "models", _folder_catalog(files))
    outcomes = {o.name: o for o in transfer.import_folder(store, src)}
    assert {n: o.status for n, o in outcomes.items()} == {
        "fake-asr": "installed",
        "fake-tts": "installed",
        "extra-llm": "installed",
    }
    assert "catalogue" in outcomes["fake-asr"].detail and "manifest.json" in outcomes["extra-llm"].detail
    assert (store.installed("fake-asr").path / "model.bin").read_bytes() == files["asr/model.bin"]
    assert store.installed("extra-llm").main_path.read_bytes() == extra and store.local_models() == ["extra-llm"]
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # copied, not moved

    # an altered file fails its model only; a link out of the folder counts as missing
    (src / "voice.onnx").write_bytes(b"tampered" * 25)
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(files["asr/model.bin"])
    (src / "asr" / "model.bin").unlink()
    (src / "asr" / "model.bin").symlink_to(outside)
    other = ModelStore(tmp_path / "other", _folder_catalog(files))
    outcomes = {o.name: o for o in transfer.import_folder(other, src)}
    assert outcomes["fake-tts"].status == "failed" and "sha256" in outcomes["fake-tts"].detail
    assert outcomes["extra-llm"].status == "installed"
    assert outcomes["fake-asr"].status == "failed" and "model.bin" in outcomes["fake-asr"].detail
    assert other.installed("fake-tts") is None and other.installed("fake-asr") is None

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no model found"):
        transfer.import_folder(other, tmp_path / "empty")
    with pytest.raises(ModelError, match="not a folder"):
        transfer.import_folder(other, tmp_path / "nowhere")


def test_a_model_on_no_hub_names_the_command_that_lays_it_out(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models", _folder_catalog({"asr/model.bin": b"w", "voice.onnx": b"o"}))
    with pytest.raises(ModelError, match=r"run `get-fakes`, then `kiosk models import DIR`"):
        transfer.pull(store, "fake-tts")
    entry = Catalog.load().get("faster-whisper-base")
    assert entry.obtain and not entry.repo and entry.files[0].sha256
