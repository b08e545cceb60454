"""Settings precedence and the site profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config
from appliance.config import ConfigError, load_settings
from appliance.site import SiteError, example_site_file, load_site, load_synonyms, site_file_in_use


def test_defaults_use_the_xdg_data_dir(tmp_path: Path) -> None:
    s = load_settings()
    assert s.data_dir == Path.home() / ".local" / "share" / "kiosk"
    assert s.kb_file == s.data_dir / "kb.sqlite"
    assert s.journal_file == s.data_dir / "journal.sqlite"
    assert s.models_path == s.data_dir / "models"


def test_toml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('data_dir = "state"\n[llm]\nmodel = "from-file"\nmax_tokens = 100\n', encoding="utf-8")
    s = load_settings(cfg)
    assert s.data_dir == tmp_path / "state"  # relative to the config file
    assert s.llm.model == "from-file" and s.llm.max_tokens == 100

    monkeypatch.setenv("KIOSK_LLM__MODEL", "from-env")
    monkeypatch.setenv("KIOSK_RETRIEVAL__MIN_CONFIDENCE", "0.7")
    s = load_settings(cfg)
    assert s.llm.model == "from-env"  # environment beats the file
    assert s.llm.max_tokens == 100  # the rest of the table survives
    assert s.retrieval.min_confidence == 0.7


def test_system_then_user_then_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "etc.toml"
    system.write_text('language = "en"\n', encoding="utf-8")
    user = config.user_config_file()
    user.parent.mkdir(parents=True)
    user.write_text('language = "zh"\n[llm]\nenabled = false\n', encoding="utf-8")
    assert load_settings().llm.enabled is False  # the user file, with no system file
    monkeypatch.setattr(config, "SYSTEM_CONFIG", system)
    assert load_settings().language == "en"  # the system file wins over the user file
    explicit = tmp_path / "x.toml"
    explicit.write_text('language = "zh"\n', encoding="utf-8")
    assert load_settings(explicit).language == "zh"  # --config wins over both


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("data_dir = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="colour"):
        load_settings(unknown)


def test_example_site_is_marked_and_complete() -> None:
    site = load_site(example_site_file())
    assert site.example is True
    assert site.duty_phone and site.property_hotline and site.office_hours and site.address
    assert site.emergency.fire == "119" and site.emergency.ambulance == "120" and site.emergency.police == "110"
    assert {"zh", "en"} <= set(site.languages)
    assert "EXAMPLE" in example_site_file().read_text(encoding="utf-8")
    synonyms = load_synonyms(site.synonyms_file)
    assert "经适房" in synonyms["共有产权保障住房"]
    assert "老年卡" in synonyms["老年人优待证"]


def test_site_file_resolution(settings, tmp_path: Path) -> None:
    assert site_file_in_use(settings) == example_site_file()
    own = settings.data_dir / "site.toml"
    own.parent.mkdir(parents=True)
    own.write_text(example_site_file().read_text(encoding="utf-8").replace("example = true", "example = false"))
    assert site_file_in_use(settings) == own
    assert load_site(own).example is False


def test_bad_site_file(tmp_path: Path) -> None:
    f = tmp_path / "site.toml"
    f.write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(SiteError, match="duty_phone"):
        load_site(f)
    syn = tmp_path / "syn.toml"
    syn.write_text('[terms]\n"a" = "not a list"\n', encoding="utf-8")
    with pytest.raises(SiteError, match="terms"):
        load_synonyms(syn)
