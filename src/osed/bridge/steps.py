"""The step protocol and the registry that finds steps through entry points.

A step takes a batch of decoded messages and returns the messages that go on (possibly
changed) and the ones it rejects, each with every reason. A step factory takes the step's
``options`` from the pipeline YAML and raises :class:`ValidationError` for bad ones, with paths
relative to the options (``$.ranges.frequency``); the configuration loader re-roots them.

Steps are found in the entry point group ``osed.bridge_steps`` (``name = "module:factory"``);
the built-ins are declared there too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from osed.bridge.samples import Message, StepResult
from osed.domain.errors import ConfigurationError

ENTRY_POINT_GROUP = "osed.bridge_steps"


@runtime_checkable
class Step(Protocol):
    name: str

    def process(self, messages: list[Message]) -> StepResult:
        """Never mutates ``messages``; an unexpected exception rejects the whole batch's
        messages in the pipeline (each dead-lettered naming this step)."""
        ...


StepFactory = Callable[[Mapping[str, Any]], Step]

# name -> "module:attribute"; the same lines are in pyproject.toml's entry points. They are
# used when the installed metadata predates them (an editable install not yet refreshed).
BUILTIN_STEPS: dict[str, str] = {
    "validate": "osed.bridge.builtin_steps:validate_step",
    "normalise-units": "osed.bridge.builtin_steps:normalise_units_step",
    "power": "osed.bridge.power_step:power_step",
}


class StepRegistry:
    """Step factories by name."""

    def __init__(self, factories: Mapping[str, StepFactory | str]) -> None:
        self._factories: dict[str, StepFactory | str] = dict(factories)

    @classmethod
    def discover(cls) -> StepRegistry:
        found: dict[str, StepFactory | str] = dict(BUILTIN_STEPS)
        found |= {ep.name: ep.value for ep in _entry_points()}
        return cls(found)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def create(self, name: str, options: Mapping[str, Any]) -> Step:
        """The step ``name`` built with ``options``; ValidationError for bad options,
        ConfigurationError for an unknown or broken plugin."""
        factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(self.names()) or "none"
            raise ConfigurationError(f"unknown step {name!r}; known: {known}")
        if isinstance(factory, str):
            factory = _load(name, factory)
            self._factories[name] = factory
        step = factory(options)
        if not isinstance(step, Step):
            raise ConfigurationError(f"step {name!r} does not implement the Step protocol")
        return step


def _entry_points() -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _load(name: str, reference: str) -> StepFactory:
    try:
        factory: StepFactory = EntryPoint(name, reference, ENTRY_POINT_GROUP).load()
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"step {name!r} ({reference}) cannot be loaded: {exc}") from exc
    return factory
