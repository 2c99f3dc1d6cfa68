"""Confidence: the probability that the best candidate is the right product, calibrated on data.

A logistic model over a few features of the best candidate (its name score, how far it leads the
runner-up, how much of its name the POS name says, a SKU match, words left unexplained). Its coefficients
were fitted by :func:`fit` on ``bench/data/mapping/calibration_*.csv`` — synthetic POS names
generated from the bakery vocabulary with a fixed seed (``python -m bench.mapping --fit`` re-fits
and prints them) — and are checked on held-out sets (the sandbox world, the hand-written sets) by
the reliability tables of ``bench/mapping.py``: suggestions with confidence ≈ 0.9 should be right
≈ 90 % of the time there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

FEATURES = ("name", "margin", "cat_coverage", "sku", "extra_known", "extra_unknown", "swap")


class Features(NamedTuple):
    """What the confidence is computed from (all in [0, 1])."""

    name: float  # name score of the best candidate
    margin: float  # its lead over the runner-up (ranking score, clipped to [0, 1])
    cat_coverage: float  # share of its name (by word weight) found in the POS name
    sku: float  # 1: its normalised SKU equals the POS SKU
    extra_known: float  # 1: the POS name has a real word it does not have (a different product?)
    extra_unknown: float  # share of the POS words nobody knows left unmatched (typos, foreign words)
    swap: float  # 1: both names keep a word the other lacks and they are not one typo apart

    def vector(self) -> tuple[float, ...]:
        return tuple(self)


# fitted by ``python -m bench.mapping --fit`` on bench/data/mapping/calibration_*.csv (intercept first)
COEFFICIENTS: tuple[float, ...] = (-5.0944, 5.564, 6.4118, 1.0978, 3.8717, -3.3597, -2.4985, 3.2618)


def confidence(features: Features, coefficients: Sequence[float] = COEFFICIENTS) -> float:
    """The calibrated probability that the best candidate is right."""
    z = coefficients[0]
    for c, x in zip(coefficients[1:], features, strict=True):
        z += c * x
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the systems here are 8 × 8)."""
    n = len(rhs)
    a = [row[:] + [rhs[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-12:
            continue
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            if factor:
                for k in range(col, n + 1):
                    a[r][k] -= factor * a[col][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        if abs(a[r][r]) < 1e-12:
            continue
        x[r] = (a[r][n] - sum(a[r][k] * x[k] for k in range(r + 1, n))) / a[r][r]
    return x


def fit(rows: Sequence[tuple[Features, bool]], *, l2: float = 1.0, iterations: int = 50) -> tuple[float, ...]:
    """Logistic regression (Newton's method, L2 penalty on the slopes): features → right or wrong."""
    xs = [(1.0, *f.vector()) for f, _ in rows]
    ys = [1.0 if ok else 0.0 for _, ok in rows]
    d = len(FEATURES) + 1
    beta = [0.0] * d
    for _ in range(iterations):
        grad = [0.0] * d
        hess = [[0.0] * d for _ in range(d)]
        for x, y in zip(xs, ys, strict=True):
            z = sum(b * v for b, v in zip(beta, x, strict=True))
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            w = p * (1.0 - p)
            for i in range(d):
                grad[i] += (y - p) * x[i]
                xi = w * x[i]
                for j in range(i, d):
                    hess[i][j] += xi * x[j]
        for i in range(d):
            for j in range(i):
                hess[i][j] = hess[j][i]
        for i in range(1, d):
            grad[i] -= l2 * beta[i]
            hess[i][i] += l2
        step = _solve(hess, grad)
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return tuple(round(b, 4) for b in beta)
