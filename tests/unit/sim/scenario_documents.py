"""Scenario documents for the scenario tests: the bundled small scenario, parsed, to vary."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from osed.sim.scenario import bundled_scenario


def small_document(**changes: Any) -> dict[str, Any]:
    """The bundled small scenario as a document, with top-level fields replaced."""
    document: dict[str, Any] = yaml.safe_load(bundled_scenario("small").read_text())
    document = copy.deepcopy(document)
    document.update(changes)
    return document
