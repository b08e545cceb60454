"""Triage before retrieval: emergencies, matters for a person, and small talk.

Rules are data (``emergency.toml``, ``intents.toml`` beside this file): regular expressions over
the normalised question, reviewed like the knowledge base. Beside the emergency rules, a learned
detector (:mod:`appliance.triage.detector`, a linear model over character n-grams) reads the same
text. Both together take well under a millisecond, so an emergency is recognised and answered
before any retrieval or model runs.

How the two combine (:meth:`Triage.assess`), recall first:

1. a rule matches (and is not excluded, nor an informational question about the topic): **alarm**,
   unless the n-gram detector is sure it is no live emergency (P(emergency) below ``veto``: a past
   fire, "what should I do if I ever get stuck in a lift?", "嗓子都说冒烟了"), which makes it a
   **check**; suicidal talk a rule matches is always an alarm;
2. else the detector's P(emergency) reaches its ``alarm`` threshold: **alarm**, with the
   detector's category (downgraded to *check* when the rules read the question as informational);
3. else it reaches the lower ``ask`` threshold: **check**: the numbers are shown at once and the
   resident is asked "您现在有危险吗？" instead of being answered from a guide;
4. else no emergency.

The thresholds were chosen by cross-validation on the exemplars (see
:mod:`appliance.triage.training`), for at most 0.5 % false alarms and 2 % questions asked, and a
veto that turns at most 0.2 % of the live emergencies the rules match into checks.

When the kiosk runs the embedding model the shipped :mod:`~appliance.triage.vector` detector was
trained on (:meth:`Triage.with_embedder`), steps 2–3 read the pool of the n-gram and the embedding
readings, thresholded by the pool's own cross-validated ``alarm`` and ``ask``. Embedding the
question takes about 10–25 ms on two idle CPU cores and the search reuses it; a rule's match
never waits for it. Should the embedding fail, the n-gram reading alone decides.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from appliance.compat import tomllib
from appliance.triage.detector import NONE, Detection, EmergencyDetector, Thresholds
from appliance.triage.domain import DomainDetector
from appliance.triage.vector import VectorDetector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmergencyCategory:
    """One kind of emergency and its scripted guidance.

    Attributes:
        numbers: site fields (``fire``, ``property_hotline`` ...) whose numbers the guidance says.
        guidance / guidance_en: scripted text with ``{placeholders}`` filled from the site profile.
        staff_action: what the duty worker is asked to do, in the message sent to staff
            (:mod:`appliance.notify.message`); "" when the rules file gives none.
    """

    id: str
    label: str
    label_en: str
    informational_ok: bool
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    numbers: tuple[str, ...]
    guidance: str
    guidance_en: str
    staff_action: str = ""


@dataclass(frozen=True)
class Assessment:
    """The triage's reading of a possible emergency.

    Attributes:
        category: the emergency category.
        level: 'alarm' (answer with the emergency guidance and alert staff) or 'check' (show the
            numbers and ask whether the resident is in danger).
        source: 'rules', 'detector' (n-grams alone) or 'detector+vector' (pooled with the
            embedding reading).
        probability: the detector's P(emergency) (1.0 for a rule match).
    """

    category: EmergencyCategory
    level: str
    source: str
    probability: float


#: Categories a rule match always alarms for, whatever the detector reads (suicidal talk is always
#: an emergency with the crisis line).
NEVER_VETOED = frozenset({"self_harm"})


@dataclass(frozen=True)
class HandoffRule:
    """A kind of matter that needs a person; ``reason`` is recorded in the journal."""

    id: str
    reason: str
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Triage:
    """The compiled rules. Build with :meth:`load`; pass normalised text to the methods
    (see :meth:`appliance.knowledge.text.Analyzer.normalize`)."""

    emergencies: tuple[EmergencyCategory, ...]
    urgent: tuple[str, ...]
    past: tuple[str, ...]
    personal: tuple[str, ...]
    informational: tuple[str, ...]
    handoffs: tuple[HandoffRule, ...]
    smalltalk: dict[str, tuple[re.Pattern[str], ...]]
    out_of_scope: tuple[re.Pattern[str], ...] = ()
    detector: EmergencyDetector | None = field(default=None, compare=False)
    domain: DomainDetector | None = field(default=None, compare=False)
    thresholds: Thresholds = Thresholds()
    vector: VectorDetector | None = field(default=None, compare=False)
    embed: Callable[[str], np.ndarray] | None = field(default=None, compare=False)

    @classmethod
    def load(cls, folder: Path | None = None, *, detector: bool = True) -> Triage:
        """Load ``emergency.toml``, ``intents.toml``, ``detector.json.gz`` and ``domain.json.gz`` from
        ``folder`` (default: the shipped ones; a folder without a detector file gets the shipped
        one).

        Args:
            detector: False for the rules alone (no emergency detector, no domain detector).

        Raises:
            ValueError: a file is not valid TOML, a pattern is not a valid regular expression
                (the message names the category), the detector file is not a detector, or it names
                a category the rules file lacks.
        """
        base = folder or Path(str(resources.files("appliance.triage")))
        em = tomllib.loads((base / "emergency.toml").read_text(encoding="utf-8"))
        it = tomllib.loads((base / "intents.toml").read_text(encoding="utf-8"))

        def compile_all(patterns: list[str], where: str) -> tuple[re.Pattern[str], ...]:
            try:
                return tuple(re.compile(p) for p in patterns)
            except re.error as exc:
                raise ValueError(f"bad pattern in {where}: {exc}") from exc

        emergencies = tuple(
            EmergencyCategory(
                id=c["id"],
                label=c["label"],
                label_en=c.get("label_en", c["label"]),
                informational_ok=bool(c.get("informational_ok", True)),
                patterns=compile_all(c["patterns"], f"emergency {c['id']}"),
                exclude=compile_all(c.get("exclude", []), f"emergency {c['id']}"),
                numbers=tuple(c.get("numbers", [])),
                guidance=c["guidance"].strip(),
                guidance_en=c.get("guidance_en", c["guidance"]).strip(),
                staff_action=c.get("staff_action", "").strip(),
            )
            for c in em["category"]
        )
        handoffs = tuple(
            HandoffRule(h["id"], h["reason"], compile_all(h["patterns"], f"handoff {h['id']}"))
            for h in it.get("handoff", [])
        )
        smalltalk = {k: compile_all(v, f"smalltalk {k}") for k, v in it.get("smalltalk", {}).items()}
        out_of_scope = compile_all(it.get("out_of_scope", {}).get("patterns", []), "out_of_scope")
        words = {k: tuple(em.get(k, [])) for k in ("urgent", "past", "personal", "informational")}
        model = domain = vector = None
        if detector:
            path = base / EmergencyDetector.shipped_file
            model = EmergencyDetector.load(path if path.is_file() else None)
            known = {c.id for c in emergencies}
            unknown = [c for c in model.classes if c != "none" and c not in known]
            if unknown:
                raise ValueError(f"the emergency detector names categories without guidance: {', '.join(unknown)}")
            path = base / DomainDetector.shipped_file
            domain = DomainDetector.load(path if path.is_file() else None)
            path = base / VectorDetector.shipped_file
            vector = VectorDetector.load(path if path.is_file() else None)
            if sorted(vector.classes) != sorted(model.classes):
                raise ValueError("the embedding emergency detector's classes differ from the n-gram detector's")
        return cls(
            emergencies,
            handoffs=handoffs,
            smalltalk=smalltalk,
            out_of_scope=out_of_scope,
            detector=model,
            domain=domain,
            thresholds=Thresholds.of(model.notes) if model is not None else Thresholds(),
            vector=vector,
            **words,
        )

    def with_embedder(self, embedder) -> Triage:
        """This triage, reading questions with the embedding detector too when ``embedder`` (an
        :class:`~appliance.knowledge.retrieval.Embedder`, or None) is the model it was trained on
        (same name and dimension); otherwise this triage unchanged (n-grams alone)."""
        v = self.vector
        if embedder is None or v is None or self.detector is None:
            return self
        if embedder.name != v.model or int(embedder.dim) != v.dim:
            log.info(
                "emergency detector: no embedding reading (trained on %s, the kiosk runs %s)", v.model, embedder.name
            )
            return self
        return dataclasses.replace(self, embed=lambda text: embedder.embed([text], query=True)[0])

    def is_informational(self, text: str) -> bool:
        """True when the question reads as a general question about a topic, not a live situation
        (urgent words, then past, then a concrete person, then hypothetical words; see emergency.toml)."""
        if any(w in text for w in self.urgent):
            return False
        if any(w in text for w in self.past):
            return True
        if any(w in text for w in self.personal):
            return False
        return any(w in text for w in self.informational)

    def emergency(self, text: str) -> EmergencyCategory | None:
        """The first emergency category the rules match, or None (the rules alone; see :meth:`assess`)."""
        informational: bool | None = None
        for category in self.emergencies:
            if not any(p.search(text) for p in category.patterns):
                continue
            if any(p.search(text) for p in category.exclude):
                continue
            if category.informational_ok:
                if informational is None:
                    informational = self.is_informational(text)
                if informational:
                    continue
            return category
        return None

    def category(self, category_id: str) -> EmergencyCategory:
        """The category with this id.

        Raises:
            KeyError: no such category.
        """
        for c in self.emergencies:
            if c.id == category_id:
                return c
        raise KeyError(category_id)

    def assess(self, text: str) -> Assessment | None:
        """Rules, then the detector (see the module docstring): an alarm, a check, or None.

        A rule's match never waits for the embedding model (the veto reads the n-grams alone); any
        other question is embedded for the pooled reading, and the search reuses that embedding.
        """
        ruled = self.emergency(text)
        probs = self.detector.probabilities(text) if self.detector is not None else None
        if ruled is not None:
            if probs is not None and ruled.id not in NEVER_VETOED:
                p = 1.0 - probs[NONE]
                if p < self.thresholds.veto:
                    return Assessment(ruled, "check", "rules", p)
            return Assessment(ruled, "alarm", "rules", 1.0)
        if probs is None:
            return None
        found, limits, source = Detection.of(probs), self.thresholds, "detector"
        if self.embed is not None and self.vector is not None:
            try:
                pooled = self.vector.mix(probs, self.vector.probabilities(self.embed(text)))
            except Exception:  # noqa: BLE001 - a failing embedder must never hide an emergency
                log.exception("emergency detector: the embedding failed; reading the n-grams alone")
            else:
                found, limits, source = Detection.of(pooled), self.vector.thresholds, "detector+vector"
        if found.probability < limits.ask:
            return None
        category = self.category(found.category)
        level = "alarm" if found.probability >= limits.alarm else "check"
        if level == "alarm" and category.informational_ok and self.is_informational(text):
            level = "check"
        return Assessment(category, level, source, found.probability)

    def handoff(self, text: str) -> HandoffRule | None:
        """The first matter-for-a-person rule the question matches, or None."""
        for rule in self.handoffs:
            if any(p.search(text) for p in rule.patterns):
                return rule
        return None

    def is_out_of_scope(self, text: str) -> bool:
        """True for a request no community service guide answers (weather, tickets, stocks, poems):
        the ``out_of_scope`` rules, checked before any search."""
        return any(p.search(text) for p in self.out_of_scope)

    def is_off_domain(self, text: str) -> bool:
        """True when the domain detector reads the question as off the community-service domain
        (restaurants, phone repairs, medical advice…; see :mod:`appliance.triage.domain`). The
        answer policy consults it only where it would otherwise ask "did you mean…?"
        (:func:`appliance.answer.engine.decide_mode`); False without a detector."""
        return self.domain is not None and self.domain.is_off(text)

    def small_talk(self, text: str) -> str | None:
        """'identity', 'greeting', 'thanks' or 'goodbye' when the question is that, else None."""
        for kind, patterns in self.smalltalk.items():
            if any(p.search(text) for p in patterns):
                return kind
        return None
