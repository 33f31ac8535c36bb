"""Per-observation quantities carried with their gradients in O(N K) memory.

A :class:`Lin` holds values v_i and, for each *basis* B (a design matrix of one
part under one counterfactual, or a derivative block), coefficients c_i such that
dv_i/dtheta = sum_B c_{B,i} B_i. The gradient of a weighted mean of v is then
sum_B B'(omega c_B) / sum(omega): one X'w product per basis, never N x K x K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class Basis:
    """Rows of one part's design under a counterfactual.

    ``X`` with columns ``idx`` replaced by ``block`` (or, if ``sparse``, only
    those columns).
    """

    def __init__(self, part: int, X: np.ndarray, idx=None, block=None, sparse=False):
        self.part, self.X, self.idx, self.block, self.sparse = (
            part,
            X,
            idx,
            block,
            sparse,
        )

    def tdot(self, v: np.ndarray) -> np.ndarray:
        """B' v as a K-vector."""
        k = self.X.shape[1]
        if self.sparse:
            out = np.zeros(k)
            out[self.idx] = self.block.T @ v
            return out
        out = self.X.T @ v
        if self.idx is not None and self.idx.size:
            out[self.idx] += self.block.T @ v - self.X[:, self.idx].T @ v
        return out


@dataclass
class Lin:
    """Values with gradient coefficients per basis (keyed by ``id(basis)``)."""

    val: np.ndarray
    grad: dict

    def __add__(self, other: Lin) -> Lin:
        g = dict(self.grad)
        for key, (b, c) in other.grad.items():
            g[key] = (b, g[key][1] + c) if key in g else (b, c)
        return Lin(self.val + other.val, g)

    def __neg__(self) -> Lin:
        return Lin(-self.val, {k: (b, -c) for k, (b, c) in self.grad.items()})

    def __sub__(self, other: Lin) -> Lin:
        return self + (-other)

    def scale(self, c) -> Lin:
        """Multiply by a constant (array or scalar) without gradient."""
        return Lin(self.val * c, {k: (b, cc * c) for k, (b, cc) in self.grad.items()})

    def __mul__(self, other: Lin) -> Lin:
        grad = self.scale(other.val) + other.scale(self.val)
        return Lin(self.val * other.val, grad.grad)

    def __truediv__(self, other: Lin) -> Lin:
        inv = 1.0 / other.val
        inv_lin = Lin(inv, {k: (b, -c * inv * inv) for k, (b, c) in other.grad.items()})
        return self * inv_lin


def leaf(val: np.ndarray, basis: Basis, coef: np.ndarray) -> Lin:
    """Build a quantity whose gradient is ``coef_i * basis_i``."""
    return Lin(val, {id(basis): (basis, coef)})


def reduce_mean(q: Lin, omega: np.ndarray, sizes: tuple[int, int]):
    """Weighted mean of ``q`` and its gradient over (part 1, part 2) parameters."""
    tot = float(np.sum(omega))
    est = float(np.sum(omega * q.val) / tot)
    grad = [np.zeros(sizes[0]), np.zeros(sizes[1])]
    for basis, coef in q.grad.values():
        grad[basis.part] += basis.tdot(omega * coef) / tot
    return est, np.concatenate(grad)
