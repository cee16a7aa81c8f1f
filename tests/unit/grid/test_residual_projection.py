"""diag(H G⁻¹ Hᵀ) from the selected inverse equals the dense computation, also where entries
of the gain cancel to zero and where the factor pivots."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse import random as sparse_random

from osed.grid.residuals import projection_diagonal


def dense_projection(jac: csr_matrix, weights: np.ndarray) -> np.ndarray:
    h = jac.toarray()
    gain = h.T @ np.diag(weights) @ h
    return np.einsum("ij,jk,ik->i", h, np.linalg.inv(gain), h)


@pytest.mark.parametrize("seed", range(6))
def test_the_selected_inverse_gives_the_dense_projection(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 40, 90
    jac = (sparse_random(m, n, density=0.06, random_state=seed) + csr_matrix(np.eye(m, n))).tocsr()
    weights = 10.0 ** rng.uniform(-2, 6, m)  # meters and near-constraints side by side
    expected = dense_projection(jac, weights)
    np.testing.assert_allclose(projection_diagonal(jac, weights), expected, rtol=1e-7, atol=1e-12)


def test_a_gain_entry_that_cancels_is_still_used() -> None:
    # Rows 0 and 1 touch columns 0 and 1 with opposite products: G[0, 1] sums to zero, but
    # G⁻¹[0, 1] is not zero and row 0's projection needs it.
    jac = csr_matrix(
        np.array(
            [
                [1.0, 1.0, 0.0],
                [1.0, -1.0, 0.0],
                [0.0, 1.0, 1.0],
                [0.0, 0.0, 1.0],
                [1.0, 0.0, 2.0],
            ]
        )
    )
    weights = np.array([1.0, 1.0, 4.0, 2.0, 3.0])
    np.testing.assert_allclose(
        projection_diagonal(jac, weights), dense_projection(jac, weights), rtol=1e-10
    )
