from datetime import datetime, timedelta

import pytest

from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems
from osed.domain.time import Interval


def test_validation_error_lists_every_problem_with_its_path() -> None:
    problems = Problems("tender")
    problems.add("$.tender.price", "not_integer", "must be an integer")
    problems.add("$.tender.side", "bad_enum", "must be BUY or SELL")
    with pytest.raises(ValidationError) as info:
        problems.check()
    text = str(info.value)
    assert "$.tender.price" in text
    assert "$.tender.side" in text
    assert info.value.problems[1] == Problem("$.tender.side", "bad_enum", "must be BUY or SELL")


def test_naive_interval_is_rejected() -> None:
    with pytest.raises(ValidationError, match="naive_datetime"):
        Interval(datetime(2026, 1, 1), timedelta(minutes=15))  # noqa: DTZ001
