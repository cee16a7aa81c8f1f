"""What the state-estimation service publishes: one SOGNO-shaped message per node and per
branch, and a summary per estimate (docs/grid-estimation-service.md, "Topics and messages").

Pure encoding, no I/O: a :class:`~osed.grid.state.GridState` in, ``(topic, key, payload)``
triples and time-series points out.

Node readings: ``voltmagnitude`` (V phase-to-ground), ``voltangle`` (rad), ``activepower`` (W)
and ``reactivepower`` (var) injected into the grid. Branch readings at the from end:
``currmagnitude`` (A), ``currangle`` (rad, when the solver gives it), ``activepower`` and
``reactivepower`` flowing from the from-end node into the branch; the same at the to end with
the suffix ``_to`` (``activepower_to``: flowing from the to-end node into the branch). A
symmetric state gives phase ``ABC`` (three-phase powers, the phase current and phase-to-ground
voltage), an asymmetric one phases ``A``, ``B`` and ``C``. Non-finite values are left out.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from osed.grid.network import BRANCHES
from osed.grid.state import GridState
from osed.ports.timeseries import TimeSeriesPoint

#: Unit of each published measurand (the ``_to`` readings share their base's unit).
UNITS: dict[str, str] = {
    "voltmagnitude": "V",
    "voltangle": "rad",
    "activepower": "W",
    "reactivepower": "var",
    "currmagnitude": "A",
    "currangle": "rad",
}
#: The to-end readings of a branch carry this suffix.
TO_SUFFIX = "_to"

_ESCAPES = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\x00": "%00"}


def topic_level(component: str) -> str:
    """``component`` as one topic level: ``%``, ``/``, ``+``, ``#`` and NUL percent-encoded."""
    if not any(c in component for c in _ESCAPES):
        return component
    return "".join(_ESCAPES.get(c, c) for c in component)


@dataclass(slots=True)
class Output:
    """One message to publish, with the store points of its readings."""

    topic: str
    key: str
    payload: bytes
    points: list[TimeSeriesPoint] = field(default_factory=list)


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def _columns(values: list[tuple[str, Any]], symmetric: bool) -> list[tuple[str, str, list[Any]]]:
    """(measurand, phase, per-row values) for each measurand and phase."""
    out: list[tuple[str, str, list[Any]]] = []
    for measurand, column in values:
        array = np.asarray(column, dtype=np.float64)
        if symmetric:
            out.append((measurand, "ABC", array.tolist()))
        else:
            for k, phase in enumerate("ABC"):
                out.append((measurand, phase, array[:, k].tolist()))
    return out


class StateEncoder:
    """Encodes states of one network: topics, keys and series ids are prepared once."""

    def __init__(
        self, *, name: str, prefix: str, node_ids: list[str], branch_ids: list[str], store: bool
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.store = store
        self._node_topics = {n: f"{prefix}/node/{topic_level(n)}" for n in node_ids}
        self._branch_topics = {b: f"{prefix}/branch/{topic_level(b)}" for b in branch_ids}
        self.summary_topic = f"{prefix}/summary"

    def key(self, timestamp_ns: int, kind: str, component: str = "") -> str:
        """The idempotency key of a message: derived from (timestamp, component)."""
        if kind == "summary":
            return f"{self.name}:{timestamp_ns}:summary"
        return f"{self.name}:{timestamp_ns}:{kind}:{component}"

    def state(self, state: GridState, at: datetime, stamp: str, timestamp_ns: int) -> list[Output]:
        outputs: list[Output] = []
        when = (at, stamp, timestamp_ns)
        node_columns = _columns(
            [
                ("voltmagnitude", state.u_v),
                ("voltangle", state.u_angle),
                ("activepower", state.p_w),
                ("reactivepower", state.q_var),
            ],
            state.symmetric,
        )
        outputs += self._messages("node", state.node_ids, node_columns, when)
        flows = state.branches
        branch_values: list[tuple[str, Any]] = [("currmagnitude", flows.i_from_a)]
        angles = _current_angles(state)
        if angles is not None:
            branch_values.append(("currangle", angles[0]))
        branch_values += [
            ("activepower", flows.p_from_w),
            ("reactivepower", flows.q_from_var),
            ("currmagnitude" + TO_SUFFIX, flows.i_to_a),
        ]
        if angles is not None:
            branch_values.append(("currangle" + TO_SUFFIX, angles[1]))
        branch_values += [
            ("activepower" + TO_SUFFIX, flows.p_to_w),
            ("reactivepower" + TO_SUFFIX, flows.q_to_var),
        ]
        branch_columns = _columns(branch_values, state.symmetric)
        outputs += self._messages("branch", flows.ids, branch_columns, when)
        return outputs

    def _messages(
        self,
        kind: str,
        components: list[str],
        columns: list[tuple[str, str, list[Any]]],
        when: tuple[datetime, str, int],
    ) -> list[Output]:
        """One message per component; the readings are formatted column by column (json
        writes a float as ``repr`` does), which is several times faster than json.dumps."""
        at, stamp, timestamp_ns = when
        texts = []
        for measurand, phase, values in columns:
            head = _reading_head(measurand, phase)
            texts.append([f"{head}{v!r}}}" if math.isfinite(v) else None for v in values])
        topics = self._node_topics if kind == "node" else self._branch_topics
        start = '{"component":'
        middle = f',"timestamp":"{stamp}","readings":['
        outputs = []
        for row, component in enumerate(components):
            readings = ",".join(t for column in texts if (t := column[row]) is not None)
            payload = f"{start}{json.dumps(component)}{middle}{readings}]}}"
            topic = topics.get(component) or f"{self.prefix}/{kind}/{topic_level(component)}"
            output = Output(
                topic, f"{self.name}:{timestamp_ns}:{kind}:{component}", payload.encode()
            )
            if self.store:
                for measurand, phase, values in columns:
                    value = values[row]
                    if math.isfinite(value):
                        unit = UNITS[measurand.removesuffix(TO_SUFFIX)]
                        series = f"{self.prefix}/{kind}/{component}/{measurand}/{phase}"
                        output.points.append(
                            TimeSeriesPoint(series, at, value, unit, at, self.name)
                        )
            outputs.append(output)
        return outputs

    def summary(self, document: dict[str, Any], timestamp_ns: int) -> Output:
        return Output(self.summary_topic, self.key(timestamp_ns, "summary"), _dumps(document))


@functools.cache
def _reading_head(measurand: str, phase: str) -> str:
    return f'{{"measurand":"{measurand}","phase":"{phase}","data":'


def _current_angles(state: GridState) -> tuple[Any, Any] | None:
    """Current angles at both ends when the solver's branch output has them (newer
    power-grid-model versions), else None."""
    tables = [state.raw[k] for k in BRANCHES if k in state.raw and len(state.raw[k])]
    if not tables or any("i_from_angle" not in (t.dtype.names or ()) for t in tables):
        return None
    return (
        np.concatenate([t["i_from_angle"] for t in tables]),
        np.concatenate([t["i_to_angle"] for t in tables]),
    )


def finite(value: float) -> float | None:
    """A JSON-safe number: None for NaN and infinities, else ten significant digits."""
    return float(f"{value:.10g}") if math.isfinite(value) else None
