"""What flows through a pipeline: decoded messages made of samples, and the rejects.

A :class:`Sample` is one value of one quantity at one instant, in the vocabulary shared by the
formats: SOGNO readings map onto it field for field, a generic JSON point uses ``series`` as
its component and leaves ``measurand`` and ``phase`` empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from osed.domain.envelope import Envelope
from osed.domain.errors import Problem


@dataclass(frozen=True, slots=True)
class Sample:
    device: str
    component: str
    measurand: str
    phase: str
    value: float
    unit: str
    time: datetime

    def with_value(self, value: float, unit: str) -> Sample:
        return replace(self, value=value, unit=unit)


@dataclass(frozen=True, slots=True)
class Message:
    """One input message decoded: the envelope it came in and its samples."""

    envelope: Envelope
    format: str
    device: str
    time: datetime
    samples: tuple[Sample, ...]

    def with_samples(self, samples: tuple[Sample, ...]) -> Message:
        return replace(self, samples=samples)


@dataclass(frozen=True, slots=True)
class Reject:
    """A message that goes to the dead-letter topic, with every reason."""

    envelope: Envelope
    problems: tuple[Problem, ...]
    stage: str  # "decode", a step name, "encode" or "store"


@dataclass(slots=True)
class StepResult:
    """What a step returns: the messages that go on, and the ones it rejected."""

    messages: list[Message]
    rejects: list[Reject] = field(default_factory=list)
