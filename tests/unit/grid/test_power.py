import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from osed.grid.power import power

SQ3 = math.sqrt(3)


def test_resistive_load_has_no_reactive_power() -> None:
    result = power([230.0], [0.4], [10.0], [0.4])
    assert result.p[0, 0] == pytest.approx(2300.0)
    assert result.q[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert result.s[0, 0] == pytest.approx(2300.0)


def test_pure_inductive_load_has_positive_reactive_power_only() -> None:
    # The current lags the voltage by 90°.
    result = power([230.0], [0.0], [10.0], [-math.pi / 2])
    assert result.p[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert result.q[0, 0] == pytest.approx(2300.0)
    capacitive = power([230.0], [0.0], [10.0], [math.pi / 2])
    assert capacitive.q[0, 0] == pytest.approx(-2300.0)


def test_balanced_three_phase_230_v_10_a_at_30_degrees() -> None:
    phi = math.radians(30)
    shifts = np.array([[0.0, -2 * math.pi / 3, 2 * math.pi / 3]])
    result = power(np.full((1, 3), 230.0), shifts, np.full((1, 3), 10.0), shifts - phi)
    assert result.p[0] == pytest.approx([230 * 10 * SQ3 / 2] * 3)
    assert result.q[0] == pytest.approx([230 * 10 * 0.5] * 3)
    assert result.p_total[0] == pytest.approx(3 * 230 * 10 * math.cos(phi))  # 5975.6 W
    assert result.q_total[0] == pytest.approx(3 * 230 * 10 * math.sin(phi))  # 3450 var
    assert result.s_total[0] == pytest.approx(6900.0)
    assert result.v_mean[0] == pytest.approx(230.0)
    assert result.i_mean[0] == pytest.approx(10.0)
    assert result.good.tolist() == [True]


def test_unbalanced_total_s_is_the_vector_sum_not_the_arithmetic_one() -> None:
    # Phase A purely resistive, phase B purely inductive, phase C idle.
    result = power([[230.0, 230.0, 230.0]], [[0.0] * 3], [[10.0, 10.0, 0.0]], [[0, -np.pi / 2, 0]])
    assert result.p_total[0] == pytest.approx(2300.0)
    assert result.q_total[0] == pytest.approx(2300.0)
    assert result.s_total[0] == pytest.approx(2300.0 * math.sqrt(2))
    assert result.s[0].sum() > result.s_total[0]
    assert result.i_mean[0] == pytest.approx(20.0 / 3)


def test_missing_phase_gives_bad_quality_and_no_numbers() -> None:
    nan = math.nan
    result = power(
        [[230.0, 230.0, nan], [230.0, 230.0, 230.0]],
        [[0.0, -2.0, 2.0], [0.0, -2.0, 2.0]],
        [[10.0, 10.0, 10.0], [10.0, 10.0, 10.0]],
        [[0.0, -2.0, 2.0], [0.0, -2.0, 2.0]],
    )
    assert result.good.tolist() == [False, True]
    assert result.phase_good.tolist() == [[True, True, False], [True, True, True]]
    for per_phase in (result.p, result.q, result.s):
        assert math.isnan(per_phase[0, 2])
    assert result.p[0, 0] == pytest.approx(2300.0)  # the good phases keep their values
    for total in (result.p_total, result.q_total, result.s_total, result.v_mean, result.i_mean):
        assert math.isnan(total[0])
        assert not math.isnan(total[1])


def test_flagged_infinite_or_negative_inputs_are_bad() -> None:
    result = power(
        [[230.0], [230.0], [-1.0], [230.0]],
        [[0.0], [math.inf], [0.0], [0.0]],
        [[10.0], [10.0], [10.0], [10.0]],
        [[0.0], [0.0], [0.0], [0.0]],
        quality=[[False], [True], [True], [True]],
    )
    assert result.good.tolist() == [False, False, False, True]
    assert np.isnan(result.p_total[:3]).all()


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        power(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 3)))


_N = 8
magnitudes = arrays(np.float64, (_N, 3), elements=st.floats(0.0, 1e5))
angles = arrays(np.float64, (_N, 3), elements=st.floats(-2 * math.pi, 2 * math.pi))


@given(magnitudes, angles, magnitudes, angles)
def test_apparent_power_squared_is_p_squared_plus_q_squared(
    vm: np.ndarray, va: np.ndarray, im: np.ndarray, ia: np.ndarray
) -> None:
    r = power(vm, va, im, ia)
    assert r.good.all()
    np.testing.assert_allclose(r.s**2, r.p**2 + r.q**2, rtol=1e-9, atol=1e-6)
    assert (r.s >= 0).all()


@given(magnitudes, angles, magnitudes, angles)
def test_totals_follow_the_convention(
    vm: np.ndarray, va: np.ndarray, im: np.ndarray, ia: np.ndarray
) -> None:
    r = power(vm, va, im, ia)
    np.testing.assert_allclose(r.p_total, r.p.sum(axis=1))
    np.testing.assert_allclose(r.q_total, r.q.sum(axis=1))
    np.testing.assert_allclose(r.s_total, np.hypot(r.p.sum(axis=1), r.q.sum(axis=1)))
    assert (r.s_total <= r.s.sum(axis=1) * (1 + 1e-12) + 1e-9).all()
    np.testing.assert_allclose(r.v_mean, vm.mean(axis=1))
    np.testing.assert_allclose(r.i_mean, im.mean(axis=1))


@given(magnitudes, angles, magnitudes, angles, st.floats(-10.0, 10.0))
def test_a_common_angle_offset_leaves_p_and_q_unchanged(
    vm: np.ndarray, va: np.ndarray, im: np.ndarray, ia: np.ndarray, offset: float
) -> None:
    r = power(vm, va, im, ia)
    turned = power(vm, va + offset, im, ia + offset)
    scale = vm * im
    np.testing.assert_allclose(turned.p, r.p, rtol=1e-6, atol=1e-9 * scale.max() + 1e-9)
    np.testing.assert_allclose(turned.q, r.q, rtol=1e-6, atol=1e-9 * scale.max() + 1e-9)


@given(magnitudes, angles, magnitudes, angles)
def test_swapping_voltage_and_current_conjugates_s(
    vm: np.ndarray, va: np.ndarray, im: np.ndarray, ia: np.ndarray
) -> None:
    r = power(vm, va, im, ia)
    swapped = power(im, ia, vm, va)
    np.testing.assert_allclose(swapped.p, r.p)
    np.testing.assert_allclose(swapped.q, -r.q)
    np.testing.assert_allclose(swapped.s, r.s)
