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


# Configuration that refuses typos (issue 13, part 5) ----------------------------------------------


def test_unknown_environment_variables_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_LANGAUGE", "en")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message and message.startswith("environment: KIOSK_LANGAUGE: unknown setting")
    assert "KIOSK_LANGUAGE" in message  # the nearest valid name
    monkeypatch.delenv("KIOSK_LANGAUGE")
    monkeypatch.setenv("KIOSK_LLM__MODLE", "x")  # nested, misspelt
    with pytest.raises(ConfigError, match="KIOSK_LLM__MODLE: unknown setting.*KIOSK_LLM__MODEL"):
        load_settings()
    monkeypatch.delenv("KIOSK_LLM__MODLE")
    monkeypatch.setenv("KIOSK_LLM_MODEL", "x")  # one underscore where two belong
    with pytest.raises(ConfigError, match="nearest valid: KIOSK_LLM__MODEL"):
        load_settings()


def test_known_environment_variables_still_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('language = "zh"\n', encoding="utf-8")
    for name in config.OTHER_ENVIRONMENT:  # read outside Settings: allowed although no setting
        monkeypatch.setenv(name, str(cfg))
    monkeypatch.setenv("KIOSK_TTS__VOICES__ZH", "my-voice")  # an entry of a table
    monkeypatch.setenv("KIOSK_NETWORK", '{"probe": "sync:443"}')  # a whole section as JSON
    monkeypatch.setenv("kiosk_ui__topics", "8")  # names are not case sensitive
    s = load_settings()
    assert s.tts.voices["zh"] == "my-voice" and s.network.probe == "sync:443" and s.ui.topics == 8
    assert set(config.OTHER_ENVIRONMENT) == {"KIOSK_CONFIG", "KIOSK_REAL_MODELS", "KIOSK_SHARED_DATA"}


def test_empty_paths_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_DATA_DIR", "")
    with pytest.raises(ConfigError, match=r"^environment: KIOSK_DATA_DIR: empty path"):
        load_settings()
    monkeypatch.delenv("KIOSK_DATA_DIR")
    for text, key in [
        ('data_dir = ""\n', "data_dir"),
        ('kb_path = "  "\n', "kb_path"),
        ('[staff]\npin_file = ""\n', "staff.pin_file"),
        ('[tts.paths]\nzh = ""\n', "tts.paths"),
    ]:
        cfg = tmp_path / "kiosk.toml"
        cfg.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_settings(cfg)
        assert str(info.value) == f"{cfg}: {key}: empty path (leave the key out to get the default)", text


def test_languages_are_an_enumerated_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_LANGUAGE", "fr")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == "environment: KIOSK_LANGUAGE: Input should be 'zh' or 'en' (got 'fr')"
    monkeypatch.delenv("KIOSK_LANGUAGE")
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[asr]\nlanguage = "de"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="asr.language: Input should be 'zh', 'en', 'site' or 'auto'"):
        load_settings(cfg)
    cfg.write_text('[tts.voices]\nfr = "piper-fr"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="tts.voices: key 'fr': Input should be 'zh' or 'en'"):
        load_settings(cfg)
    assert config.LANGUAGES == ("zh", "en")


def test_unknown_file_keys_name_the_nearest_valid_key(tmp_path: Path) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[llm]\nmodle = "x"\n[retrieval]\ntop_k = 0\n[robto]\nport = "sim"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert f"{cfg}: llm.modle: unknown key (nearest valid key: llm.model)" in message
    assert f"{cfg}: retrieval.top_k: Input should be greater than or equal to 1 (got 0)" in message
    assert f"{cfg}: robto: unknown key (nearest valid key: robot)" in message


def test_a_bad_environment_value_is_blamed_on_the_environment(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text("[llm]\nn_ctx = 100\n", encoding="utf-8")
    monkeypatch.setenv("KIOSK_RETRIEVAL__TOP_K", "0")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (  # in the order of the settings: [llm] before [retrieval]
        f"{cfg}: llm.n_ctx: Input should be greater than or equal to 512 (got 100); "
        "environment: KIOSK_RETRIEVAL__TOP_K: Input should be greater than or equal to 1 (got '0')"
    )
    monkeypatch.setenv("KIOSK_RETRIEVAL__TOP_K", "3")
    monkeypatch.setenv("KIOSK_TTS__VOICES", "not json")
    with pytest.raises(ConfigError, match=r"^environment: KIOSK_TTS__VOICES: not JSON"):
        load_settings(cfg)


def test_every_settings_model_is_strict() -> None:
    """A section added later must derive from StrictModel (unknown keys and "" paths refused)."""
    from pydantic import BaseModel

    from appliance.site import EmergencyNumbers, Site
    from appliance.validation import StrictModel, field_names_at

    seen = [config.Settings, Site, EmergencyNumbers]
    for name in field_names_at(config.Settings, ()):
        section = getattr(config.Settings.model_fields[name].annotation, "__mro__", ())
        if BaseModel in section:
            seen.append(config.Settings.model_fields[name].annotation)
    assert len(seen) > 10
    for model in seen:
        assert issubclass(model, StrictModel) and model.model_config.get("extra") == "forbid", model


def test_shipped_and_deployed_files_still_load(tmp_path: Path) -> None:
    deployed = load_settings(Path(__file__).resolve().parents[1] / "deploy" / "kiosk.toml")
    assert deployed.data_dir == Path("/var/lib/kiosk") and deployed.robot.port == "/dev/kiosk-robot"
    assert load_site(example_site_file()).emergency.gas == "010-0000-9119"


def test_unknown_site_keys_are_errors(tmp_path: Path) -> None:
    text = example_site_file().read_text(encoding="utf-8")
    f = tmp_path / "site.toml"
    f.write_text(text.replace('gas = "010-0000-9119"', 'gas_phone = "010-0000-9119"'), encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(f)
    assert str(info.value) == f"{f}: emergency.gas_phone: unknown key (nearest valid key: emergency.gas)"
    f.write_text(text.replace('languages = ["zh", "en"]', 'languages = ["zh", "fr"]'), encoding="utf-8")
    with pytest.raises(SiteError, match=r"languages\[1\]: Input should be 'zh' or 'en' \(got 'fr'\)"):
        load_site(f)
    f.write_text('synonyms_file = ""\n' + text, encoding="utf-8")
    with pytest.raises(SiteError, match="synonyms_file: empty path"):
        load_site(f)
    f.write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(f)
    assert "\n" not in str(info.value) and "duty_phone: Field required" in str(info.value)


def test_the_outside_data_folder_is_one_setting_for_benches_and_tests(tmp_path: Path, monkeypatch) -> None:
    from appliance.outside_data import CHECKOUT, guangdong_guides, shared_data_dir, speech_dir

    monkeypatch.delenv("KIOSK_SHARED_DATA", raising=False)
    assert shared_data_dir() == CHECKOUT.parent / "shared" / "data"
    monkeypatch.setenv("KIOSK_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path and speech_dir() == tmp_path / "speech"
    assert guangdong_guides() == tmp_path / "kb" / "guangdong_services.jsonl"
    load_settings(None)  # a known variable, not a typo
