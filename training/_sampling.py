"""Negative sampling: every won row, a weighted uniform sample of the others.

Contract of :meth:`NegativeSampling.plan`: given the 0/1 labels of the rows a model is fitted
on, it returns a :class:`Sample`:

* when the positive rate is at least :attr:`NegativeSampling.below_rate`, or when the sample
  would keep every negative anyway, every row with weight 1 (``applied`` is False);
* otherwise every positive row, with weight 1, and exactly ``k`` negative rows drawn
  uniformly without replacement (seeded: the same labels give the same rows), each with
  weight ``negatives / k``, where ``k = max(ceil(negatives_per_positive x positives),
  min_negatives)``. The weighted negatives sum to the number of negatives, so a model
  fitted with these weights estimates the probabilities of the full rows (the weighted
  likelihood is an unbiased estimate of the full one); the ranking is unaffected in
  expectation.

The rows are returned in their original order. The labels are never changed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from leadscore.features import ConfigError
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class NegativeSampling:
    """When and how much to sample the negatives (see the module docstring).

    ``below_rate``: sample only when the positive rate of the rows is below this (0 turns
    sampling off). ``negatives_per_positive``: negatives kept per positive. ``min_negatives``:
    never fewer negatives than this (so small data, where every row counts, is not sampled).
    """

    below_rate: float = 0.05
    negatives_per_positive: float = 10.0
    min_negatives: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.below_rate <= 1:
            raise ConfigError(f"below_rate must be between 0 and 1, got {self.below_rate!r}")
        if not self.negatives_per_positive > 0:
            raise ConfigError("negatives_per_positive must be positive, got "
                              f"{self.negatives_per_positive!r}")  # fmt: skip
        if self.min_negatives < 1:
            raise ConfigError(f"min_negatives must be at least 1, got {self.min_negatives!r}")

    def plan(self, y: ArrayLike) -> Sample:
        """The rows to fit on and their weights (see the module docstring)."""
        labels = np.asarray(y)
        positive = labels == 1
        positives = int(positive.sum())
        negatives = len(labels) - positives
        rate = positives / len(labels) if len(labels) else math.nan
        keep = max(math.ceil(self.negatives_per_positive * positives), self.min_negatives)
        if not len(labels) or not rate < self.below_rate or keep >= negatives:
            return Sample(np.arange(len(labels)), np.ones(len(labels)), positives, negatives,
                          negatives, self)  # fmt: skip
        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(np.flatnonzero(~positive), size=keep, replace=False)
        mask = positive.copy()
        mask[chosen] = True
        rows = np.flatnonzero(mask)
        weights = np.where(positive[rows], 1.0, negatives / keep)
        return Sample(rows, weights, positives, negatives, keep, self)


@dataclass(frozen=True)
class Sample:
    """The rows a model is fitted on (positions, in order) and their weights."""

    rows: NDArray[np.intp]
    weights: NDArray[np.float64]
    positives: int
    negatives: int
    kept_negatives: int
    config: NegativeSampling

    @property
    def applied(self) -> bool:
        """Whether any negative row was left out."""
        return self.kept_negatives < self.negatives

    @property
    def negative_rate(self) -> float:
        """The share of negative rows kept (1 without sampling)."""
        return self.kept_negatives / self.negatives if self.negatives else 1.0

    @property
    def negative_weight(self) -> float:
        """The weight of each kept negative row (1 without sampling)."""
        return 1.0 / self.negative_rate if self.kept_negatives else 1.0

    def description(self) -> str:
        """What was kept, in words."""
        total = self.positives + self.negatives
        rate = self.positives / total if total else math.nan
        if not self.applied:
            return (f"no negative sampling: {total:,} rows at a positive rate of {rate:.2%} "
                    f"(sampling below {self.config.below_rate:.0%}, keeping at least "
                    f"{self.config.min_negatives:,} negatives)")  # fmt: skip
        return (f"every positive ({self.positives:,}) and {self.kept_negatives:,} of "
                f"{self.negatives:,} negatives ({self.negative_rate:.2%}, uniform, seed "
                f"{self.config.seed}), each negative weighted {self.negative_weight:.4f}: "
                f"{len(self.rows):,} of {total:,} rows at a positive rate of {rate:.2%}")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (MLflow, the bundle's metadata)."""
        return {"applied": self.applied, "positives": self.positives,
                "negatives": self.negatives, "kept_negatives": self.kept_negatives,
                "kept_rows": len(self.rows), "negative_rate": self.negative_rate,
                "negative_weight": self.negative_weight, "positive_weight": 1.0,
                "config": asdict(self.config), "description": self.description()}  # fmt: skip
