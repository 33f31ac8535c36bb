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
        self._diff = None

    def diff(self) -> np.ndarray:
        """The replaced columns minus the observed ones (``block`` if sparse)."""
        if self._diff is None:
            if self.sparse:
                self._diff = self.block
            else:
                self._diff = self.block.copy(order="F")
                for m, j in enumerate(self.idx):
                    self._diff[:, m] -= self.X[:, j]
        return self._diff

    def correction(self, v: np.ndarray) -> np.ndarray:
        """B'v - X'v (or B'v itself if ``sparse``) as a K-vector, in O(N |idx|)."""
        out = np.zeros(self.X.shape[1])
        if self.idx is None or not self.idx.size:
            return out
        out[self.idx] = v @ self.diff()
        return out


class Reducer:
    """Deferred X'v products, evaluated in batches: one pass over X per batch.

    ``add`` queues v for the design ``X`` and the gradient ``target[part]``;
    ``finish`` evaluates what is left. Peak extra memory: ``batch`` N-vectors
    per design.
    """

    def __init__(self, batch: int = 8):
        self.batch = batch
        self.pending: dict = {}

    def add(self, X: np.ndarray, v: np.ndarray, target: list, part: int) -> None:
        """Queue X'v to be added to ``target[part]``."""
        key = id(X)
        if key not in self.pending:
            buf = np.empty((X.shape[0], self.batch), order="F")
            self.pending[key] = (X, buf, [])
        X, buf, targets = self.pending[key]
        buf[:, len(targets)] = v
        targets.append((target, part))
        if len(targets) == self.batch:
            self._flush(key)

    def _flush(self, key) -> None:
        X, buf, targets = self.pending.pop(key)
        prods = X.T @ buf[:, : len(targets)]
        for (target, part), col in zip(targets, prods.T, strict=True):
            target[part] += col

    def finish(self) -> None:
        """Evaluate every queued product."""
        for key in list(self.pending):
            self._flush(key)


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
        g = dict(self.grad)
        for key, (b, c) in other.grad.items():
            g[key] = (b, g[key][1] - c) if key in g else (b, -c)
        return Lin(self.val - other.val, g)

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


def reduce_mean(
    q: Lin, omega: np.ndarray, sizes: tuple[int, int], red: Reducer, total=None
):
    """Weighted mean of ``q`` and its gradient over (part 1, part 2) parameters.

    The gradient is returned as ``[g1, g2]``, complete once ``red.finish()`` has
    run: bases sharing a design and part are summed before one deferred X'v.
    ``total`` replaces sum(omega) as the denominator (a block of rows of a
    larger averaging sample contributes its share of the mean).
    """
    tot = float(np.sum(omega)) if total is None else float(total)
    est = float(np.sum(omega * q.val) / tot)
    grad = [np.zeros(sizes[0]), np.zeros(sizes[1])]
    full: dict = {}
    unit = bool(omega.size) and omega[0] == 1.0 and bool(np.all(omega == 1.0))
    for basis, coef in q.grad.values():
        v = coef * (1.0 / tot) if unit else omega * coef / tot
        grad[basis.part] += basis.correction(v)
        if not basis.sparse:
            key = (id(basis.X), basis.part)
            full[key] = (basis.X, basis.part, full[key][2] + v if key in full else v)
    for X, part, v in full.values():
        red.add(X, v, grad, part)
    return est, grad
