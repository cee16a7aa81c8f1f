"""The golden CTS example decodes to the domain object it describes, and back."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from osed.codec import cts
from osed.domain.cts import EiCreateTender, IntervalDetail, Side, Tender
from osed.domain.parties import ResourceDesignator
from osed.domain.time import Interval
from osed.domain.units import scaled_to_decimal

GOLDEN = Path(__file__).parents[2] / "data" / "cts" / "create_tender.json"

EXPECTED = EiCreateTender(
    request_id="req-20260301-0001",
    party_id="teua-17",
    counter_party_id="lme",
    market_id="feeder-4",
    tender=Tender(
        tender_id="tender-88",
        side=Side.BUY,
        detail=IntervalDetail(
            Interval(datetime(2026, 3, 1, 12, tzinfo=UTC), timedelta(minutes=15)),
            price=2150,
            quantity=5000,
        ),
        price_scale=4,
        quantity_scale=3,
        all_or_none=True,
        expiration_time=datetime(2026, 3, 1, 11, 45, tzinfo=UTC),
        resource_designator=ResourceDesignator.ENERGY,
        currency="EUR",
        execution_instructions="day order",
    ),
)


def test_golden_create_tender_decodes_to_the_expected_message() -> None:
    assert cts.loads(GOLDEN.read_bytes()) == EXPECTED


def test_golden_create_tender_is_what_encode_writes() -> None:
    assert cts.encode(EXPECTED) == json.loads(GOLDEN.read_text())


def test_golden_scaled_values_mean_what_the_docs_say() -> None:
    detail = EXPECTED.tender.interval_detail
    assert scaled_to_decimal(detail.price, EXPECTED.tender.price_scale) == Decimal("0.2150")
    assert scaled_to_decimal(detail.quantity, EXPECTED.tender.quantity_scale) == Decimal("5.000")
