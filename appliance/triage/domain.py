"""The learned domain detector: is a question about what a community service centre does at all?

The ``out_of_scope`` rules in ``intents.toml`` catch the common requests no guide answers
(weather, tickets, stocks, poems) exactly, but residents ask a lobby kiosk about anything: the
nearest restaurant, a phone with no signal, which flat to buy, what pills to take for blood
pressure. Retrieval alone cannot refuse these: their everyday words ("怎么办", "在哪", "多少钱",
"申请") match some guide, and a guide that mentions a business licence among its materials is a
fair lexical match for "营业执照怎么申请". This detector reads the question's words the way the
emergency detector does (an :class:`~appliance.triage.ngram.NgramClassifier` over character
n-grams, classes ``in`` and ``off``) and says how likely it is off the domain altogether.

It judges the *kind* of question, not whether the local knowledge base covers it: questions about
government matters a community might not handle (a passport, an income-tax refund) are ``in``,
and it is retrieval's confidence that refuses them when no guide is about them. The threshold
(``notes["off"]``) is chosen by cross-validation so that at most
:data:`~appliance.triage.training.MAX_IN_DOMAIN_REFUSED` of in-domain training questions are
called off the domain; ``python -m appliance.triage.training`` trains it with the emergency
detector and writes ``domain.json.gz``.
"""

from __future__ import annotations

from appliance.triage.ngram import NgramClassifier

IN, OFF = "in", "off"


class DomainDetector(NgramClassifier):
    """P(off the community-service domain) of normalised text (classes ``in`` and ``off``).

    Raises:
        ValueError: the classes are not ``in`` and ``off``, or the shapes do not agree.
    """

    shipped_file = "domain.json.gz"
    kind = "a domain detector"

    def __init__(self, classes: list[str], *args, **kwargs):
        if sorted(classes) != [IN, OFF]:
            raise ValueError("the domain detector's classes are 'in' and 'off'")
        super().__init__(classes, *args, **kwargs)

    @property
    def threshold(self) -> float:
        """The probability at or above which a question is off the domain (1.0 when untrained)."""
        return float(self.notes.get("off", 1.0))  # type: ignore[arg-type]

    def p_off(self, text: str) -> float:
        """P(``off``) for normalised ``text``, in [0, 1]."""
        return self.probabilities(text)[OFF]

    def is_off(self, text: str) -> bool:
        """True when normalised ``text`` is off the domain at the trained threshold."""
        return self.p_off(text) >= self.threshold
