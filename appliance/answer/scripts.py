"""Scripted replies (``scripts.toml``) filled in with the site profile."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from appliance.compat import tomllib
from appliance.site import Site
from appliance.triage import EmergencyCategory

NATIONAL_CRISIS_LINE = "12356"


class Scripts:
    """Renders scripted replies for one site.

    Args:
        site: the site profile whose names, hours and numbers fill the placeholders.
        path: a ``scripts.toml`` (default: the shipped one).
    """

    def __init__(self, site: Site, path: Path | None = None):
        path = path or Path(str(resources.files("appliance.answer") / "scripts.toml"))
        self._texts: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        self.site = site

    def _fields(self, lang: str) -> dict[str, str]:
        s = self.site
        en = lang == "en"
        numbers = s.emergency.model_dump()
        return {
            "assistant_name": s.assistant_name_en if en else s.assistant_name,
            "site_name": s.text("name", lang),
            "address": s.text("address", lang),
            "office_hours": s.text("office_hours", lang),
            "duty_phone": s.duty_phone,
            "property_name": s.property_name_en if en else s.property_name,
            "property_name_en": s.property_name_en,
            "property_hotline": s.property_hotline,
            **numbers,
            # A site without a gas-company line sends gas leaks to the fire service; 12356 is the
            # national psychological-assistance hotline.
            "gas": numbers["gas"] or numbers["fire"],
            "crisis_line": numbers["crisis_line"] or NATIONAL_CRISIS_LINE,
        }

    def text(self, key: str, lang: str, **extra: str) -> str:
        """The reply ``key`` ('identity', 'no_answer', 'handoff.dispute' ...) in ``lang``.

        Raises:
            KeyError: no such script.
        """
        table: Any = self._texts["en" if lang == "en" else "zh"]
        for part in key.split("."):
            table = table[part]
        return str(table).format(**self._fields(lang), **extra)

    def options(self, key: str, lang: str) -> list[str]:
        """A list of button labels ('yes_options', 'check_options') in ``lang``.

        Raises:
            KeyError: no such list.
        """
        return [str(x) for x in self._texts["en" if lang == "en" else "zh"][key]]

    def emergency_check(self, category: EmergencyCategory, lang: str) -> str:
        """The question asked when the triage is unsure: "are you in danger?", with the numbers to
        call at once: police, fire and ambulance, then the category's own (crisis line, anti-fraud
        line, property hotline ...) and the duty phone."""
        fields = self._fields(lang)
        labels = self._texts["en" if lang == "en" else "zh"]["number_labels"]
        wanted = list(dict.fromkeys(["police", "fire", "ambulance", *category.numbers, "duty_phone"]))
        sep = ", " if lang == "en" else "、"
        numbers = sep.join(f"{labels.get(k, k)} {fields[k]}" for k in wanted if fields.get(k))
        return self.text("emergency_check", lang, numbers=numbers)

    def emergency(self, category: EmergencyCategory, lang: str) -> str:
        """The guidance for an emergency, with the site's numbers, and the note that it is recorded."""
        template = category.guidance_en if lang == "en" else category.guidance
        return template.format(**self._fields(lang)) + "\n" + self.text("emergency_tail", lang)

    def handoff(self, rule_id: str, lang: str) -> str:
        """A kind reply for a matter that needs a person, with how to reach staff."""
        return self.text(f"handoff.{rule_id}", lang) + self.text("handoff_tail", lang)
