"""Raw messages are acknowledged to their broker in arrival order, once durable, never before."""

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from osed.bridge.ingress import RawAcknowledger
from osed.domain.envelope import Envelope

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@given(
    st.lists(st.lists(st.sampled_from("abc"), min_size=1, max_size=6), min_size=1, max_size=6),
    st.data(),
)
def test_a_commit_acknowledges_exactly_the_durable_prefix(
    batches: list[list[str]], data: st.DataObject
) -> None:
    acknowledger = RawAcknowledger()
    acknowledged: dict[int, int] = {}
    seqs: dict[str, int] = {}
    arrived: list[tuple[int, int, Envelope]] = []  # (batch, count within it, envelope)
    for number, sources in enumerate(batches):
        envelopes = []
        for source in sources:
            seqs[source] = seqs.get(source, 0) + 1
            envelopes.append(Envelope("raw/x", source, seqs[source], b"", T0))
        arrived += [(number, k, e) for k, e in enumerate(envelopes, start=1)]

        def acknowledge(count: int, number: int = number) -> None:
            assert count > acknowledged.get(number, 0)  # forward only
            acknowledged[number] = count

        acknowledger.hold(envelopes, acknowledge)
    durable = data.draw(st.integers(0, len(arrived)))
    positions: dict[str, int] = {}
    for _, _, envelope in arrived[:durable]:
        positions[envelope.source] = envelope.seq
    asyncio.run(acknowledger.commit(positions))
    expected: dict[int, int] = {}
    for number, count, _ in arrived[:durable]:
        expected[number] = count
    assert acknowledged == expected
