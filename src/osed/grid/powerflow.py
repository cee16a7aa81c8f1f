"""Power flow with power-grid-model; solver errors become actionable OSED errors."""

from __future__ import annotations

from collections.abc import Mapping

from power_grid_model import CalculationMethod, PowerGridModel
from power_grid_model.errors import IterationDiverge, PowerGridError

from osed.domain.errors import OsedError
from osed.grid.network import Network, Table
from osed.grid.state import GridState, state_from_output


class CalculationError(OsedError):
    """A grid calculation could not produce a state; the message says what to change."""


def power_flow(
    network: Network,
    *,
    symmetric: bool | None = None,
    method: str = "newton_raphson",
    tolerance: float = 1e-8,
    max_iterations: int = 20,
) -> GridState:
    """The grid's state for the loads and sources the model specifies.

    ``symmetric=None`` chooses asymmetric when the model holds unbalanced appliances.
    """
    sym = not network.is_asymmetric if symmetric is None else symmetric
    model = solver_model(network.without_sensors(), network)
    try:
        output = model.calculate_power_flow(
            symmetric=sym,
            calculation_method=CalculationMethod[method],
            error_tolerance=tolerance,
            max_iterations=max_iterations,
        )
    except IterationDiverge as exc:
        raise CalculationError(
            f"{network.name}: power flow did not converge in {max_iterations} iterations "
            f"({_first_line(exc)}); check loads against the source's capacity and line "
            "impedances, or raise max_iterations"
        ) from exc
    except PowerGridError as exc:
        raise CalculationError(f"{network.name}: power flow failed: {_first_line(exc)}") from exc
    return state_from_output(network, output, calculation="power_flow", symmetric=sym)


def solver_model(data: Mapping[str, Table], network: Network) -> PowerGridModel:
    if not len(network.table("node")):
        raise CalculationError(f"{network.name}: the network has no node to calculate")
    try:
        return PowerGridModel(dict(data), system_frequency=network.frequency_hz)
    except PowerGridError as exc:
        raise CalculationError(
            f"{network.name}: the solver rejected the model: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
