"""OpenTenders answers as a plain dict of open tenders filtered by instrument would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.agents.market_state import OpenTender
from osed.agents.open_tenders import OpenTenders
from osed.domain.cts import IntervalDetail, Side, Tender
from osed.domain.time import Interval

SLOT = Interval(datetime(2026, 7, 1, tzinfo=UTC), timedelta(minutes=15))
TENDER = Tender("t", Side.BUY, IntervalDetail(SLOT, 1, 1))

ORDER_IDS = st.sampled_from(["a", "b", "c", "d", "e"])
INSTRUMENTS = st.sampled_from(["i1", "i2", "i3"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), ORDER_IDS, INSTRUMENTS),
        st.tuples(st.just("del"), ORDER_IDS, INSTRUMENTS),
        st.tuples(st.just("pop"), ORDER_IDS, INSTRUMENTS),
    ),
    max_size=40,
)


@given(OPERATIONS)
def test_the_index_follows_every_change(operations: list[tuple[str, str, str]]) -> None:
    model: dict[str, OpenTender] = {}
    tenders = OpenTenders()
    for operation, order_id, instrument in operations:
        if operation == "set" and order_id in model and model[order_id].instrument != instrument:
            with pytest.raises(ValueError, match="open in"):
                tenders[order_id] = OpenTender("p", "m", TENDER, instrument)
        elif operation == "set":
            rest = OpenTender("p", "m", TENDER, instrument)
            model[order_id] = rest
            tenders[order_id] = rest
        elif operation == "del" and order_id in model:
            del model[order_id]
            del tenders[order_id]
        elif operation == "pop":
            assert tenders.pop(order_id) is model.pop(order_id, None)
        assert list(tenders.items()) == list(model.items())
        for name in ("i1", "i2", "i3"):
            expected = [k for k, v in model.items() if v.instrument == name]
            assert tenders.of_instrument(name) == expected
    assert list(OpenTenders(model.items()).items()) == list(model.items())
