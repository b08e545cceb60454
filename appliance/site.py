"""The site profile: what differs from one community to the next (``site.toml``).

The profile is plain data: the community's name, address and office hours, the duty phone, the
property-management hotline, the emergency numbers said in scripted guidance, the languages, and
the synonyms file (colloquial word -> official term) that feeds retrieval.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import Field, ValidationError

from appliance.compat import tomllib
from appliance.config import Language, Settings
from appliance.validation import StrictModel, dotted, problems


class SiteError(RuntimeError):
    """A site or synonyms file that cannot be read or does not validate."""


class EmergencyNumbers(StrictModel):
    """Numbers said in emergency guidance. Strings, so that extensions and dashes survive."""

    police: str = "110"
    fire: str = "119"
    ambulance: str = "120"
    gas: str | None = None
    crisis_line: str | None = Field(default=None, description="psychological crisis hotline")
    anti_fraud: str = Field(default="96110", description="anti-fraud warning line (全国反诈劝阻专线)")


class Site(StrictModel):
    """One community's profile, loaded from ``site.toml``. Unknown keys are errors."""

    example: bool = Field(default=False, description="true for the shipped fictional example")
    name: str
    name_en: str | None = None
    assistant_name: str = "社区AI助手"
    assistant_name_en: str = "the community AI assistant"
    address: str
    address_en: str | None = None
    office_hours: str
    office_hours_en: str | None = None
    duty_phone: str
    property_name: str = "物业服务中心"
    property_name_en: str = "the property management office"
    property_hotline: str
    languages: list[Language] = Field(default_factory=lambda: ["zh"])
    emergency: EmergencyNumbers = Field(default_factory=EmergencyNumbers)
    synonyms_file: Path | None = Field(
        default=None, description="TOML [terms] table; relative to site.toml; default synonyms.toml beside it"
    )
    source: Path | None = Field(default=None, exclude=True, description="the file it was read from")

    def text(self, field: str, lang: str) -> str:
        """A text field in ``lang`` ('zh' or 'en'), falling back to the Chinese value."""
        if lang == "en":
            value = getattr(self, f"{field}_en", None)
            if value:
                return value
        return getattr(self, field)


def example_site_file() -> Path:
    """The shipped example ``site.toml`` (a fictional community)."""
    return Path(str(resources.files("appliance") / "demo" / "site.toml"))


def site_file_in_use(settings: Settings) -> Path:
    """``settings.site_file``, else ``DATA_DIR/site.toml``, else the shipped example."""
    if settings.site_file is not None:
        return settings.site_file
    local = settings.data_dir / "site.toml"
    return local if local.is_file() else example_site_file()


def load_site(path: Path) -> Site:
    """Read and validate a ``site.toml``.

    Raises:
        SiteError: missing file, bad TOML, or unknown, missing or invalid keys. One line,
            ``FILE: KEY: REASON`` (problems joined with "; "); an unknown key's reason names the
            nearest valid one (``[emergency] gas_phone`` -> ``emergency.gas``).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SiteError(f"cannot read site file {path}: {' '.join(str(exc).split())}") from exc
    try:
        site = Site(**data)
    except ValidationError as exc:
        raise SiteError("; ".join(f"{path}: {dotted(loc)}: {why}" for loc, why in problems(exc, Site))) from exc
    synonyms = site.synonyms_file or Path("synonyms.toml")
    if not synonyms.is_absolute():
        synonyms = path.parent / synonyms
    return site.model_copy(update={"source": path, "synonyms_file": synonyms})


def load_synonyms(path: Path | None) -> dict[str, list[str]]:
    """Read a synonyms file: ``[terms]`` mapping an official term to its colloquial variants.

    A missing file gives an empty mapping (a site need not keep one).

    Raises:
        SiteError: the file exists but is not valid TOML of that shape.
    """
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SiteError(f"cannot read synonyms file {path}: {exc}") from exc
    terms = data.get("terms", {})
    if not isinstance(terms, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in terms.items()
    ):
        raise SiteError(f'invalid synonyms file {path}: expected [terms] official = ["colloquial", ...]')
    return {k: list(v) for k, v in terms.items()}
