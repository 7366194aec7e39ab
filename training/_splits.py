"""Splits: train on earlier data, validate on the next, test on a later period.

:class:`TimeSplit` splits pipeline snapshots by quarter; :class:`RowSplit` splits one row per
lead (the handoff) by decision time, or, for data without any time, at random (stratified).
Both give row masks with ``masks_frame(frame)`` and say what they did in ``description``.

Every label used for training or validation must be *known* at the test snapshot: a snapshot
``s`` may train or validate for test snapshot ``t`` only if ``s + horizon <= t``. With
quarterly snapshots and a 90-day horizon that is simply "every earlier quarter"; with a
longer horizon the quarters right before the test one are skipped (their outcomes were
still unknown when the test quarter began).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from leadscore.features import ConfigError


@dataclass(frozen=True)
class TimeSplit:
    """Snapshots per role; every training snapshot precedes validation, which precedes test."""

    train: tuple[datetime, ...]
    validation: datetime
    test: datetime

    def masks(self, as_of: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Boolean row masks (train, validation, test) for a frame's ``as_of`` column."""
        ts = pd.to_datetime(as_of)
        train = ts.isin([pd.Timestamp(t) for t in self.train])
        return train, ts == pd.Timestamp(self.validation), ts == pd.Timestamp(self.test)

    def masks_frame(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
        """:meth:`masks` of a labelled frame."""
        return self.masks(frame["as_of"])

    @property
    def description(self) -> str:
        """The split in words."""
        return (f"quarterly snapshots: {len(self.train)} train ({self.train[0]:%Y-%m-%d} .. "
                f"{self.train[-1]:%Y-%m-%d}), validation {self.validation:%Y-%m-%d}, test "
                f"{self.test:%Y-%m-%d}")  # fmt: skip


def split_for_test(snapshots: list[datetime], test: datetime, horizon_days: int) -> TimeSplit:
    """Test on ``test``; validate on the latest snapshot whose labels are known by then; train
    on the ones before it. Needs at least two such earlier snapshots."""
    known = sorted(s for s in snapshots if s + timedelta(days=horizon_days) <= test)
    if len(known) < 2:
        raise ConfigError(
            f"testing on {test:%Y-%m-%d} needs at least 2 earlier snapshots whose "
            f"{horizon_days}-day outcomes are known by then (train, validation); found "
            f"{len(known)}: {[f'{s:%Y-%m-%d}' for s in known]}. Use more history, a later "
            "test quarter, or a shorter --horizon-days"
        )
    return TimeSplit(train=tuple(known[:-1]), validation=known[-1], test=test)


def split_snapshots(snapshots: list[datetime], horizon_days: int = 90) -> TimeSplit:
    """The latest labelled snapshot is the test quarter (see :func:`split_for_test`)."""
    snaps = sorted(snapshots)
    if len(snaps) < 3:
        raise ConfigError(
            "time-based training needs at least 3 labelled quarterly snapshots (train, "
            f"validation, test); found {len(snaps)}: {[f'{s:%Y-%m-%d}' for s in snaps]}. "
            "Use more history, an earlier --as-of, or a shorter --horizon-days"
        )
    return split_for_test(snaps, snaps[-1], horizon_days)


@dataclass(frozen=True)
class RowSplit:
    """One row per lead (the handoff decision): split by decision time, or at random.

    Dated leads: the test rows are those with ``as_of >= test_start``; validation those in
    ``[validation_start, test_start)``; training the earlier ones. With labels that come
    from dated outcomes, a training or validation row must have its whole horizon before
    ``test_start`` (its outcome known when the test period begins); later ones are left out
    of both. Undated leads (no time at all): a stratified random split with a fixed seed,
    which :attr:`description` says in words.
    """

    kind: str  # "time" or "random"
    validation_start: datetime | None = None
    test_start: datetime | None = None
    horizon_days: int = 0
    gap: bool = False
    seed: int = 0
    shares: tuple[float, float] = (0.2, 0.2)  # validation, test
    test_end: datetime | None = None  # backtest folds: the test period ends here
    order_only: bool = False  # the times are stand-ins for the rows' order

    @property
    def test(self) -> datetime | None:
        """When the test period starts (None for a random split)."""
        return self.test_start

    def masks_frame(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Boolean row masks (train, validation, test) of a labelled handoff frame."""
        if self.kind == "random":
            return _random_masks(frame, self.shares, self.seed)
        assert self.validation_start is not None and self.test_start is not None
        ts = pd.to_datetime(frame["as_of"])
        test = ts >= pd.Timestamp(self.test_start)
        if self.test_end is not None:
            test &= ts < pd.Timestamp(self.test_end)
        known = ts < pd.Timestamp(self.test_start)
        if self.gap:
            known &= ts + pd.Timedelta(days=self.horizon_days) <= pd.Timestamp(self.test_start)
        valid = known & (ts >= pd.Timestamp(self.validation_start))
        train = known & (ts < pd.Timestamp(self.validation_start))
        return train, valid, test

    @property
    def description(self) -> str:
        """The split in words."""
        if self.kind == "random":
            v, t = self.shares
            return (f"no time in the data: a stratified random split ({1 - v - t:.0%} train, "
                    f"{v:.0%} validation, {t:.0%} test, seed {self.seed}); figures describe "
                    "leads like these, not later ones")  # fmt: skip
        assert self.validation_start is not None and self.test_start is not None
        if self.order_only:
            v, t = self.shares
            return (f"by the rows' order (no times in the data): the first {1 - v - t:.0%} "
                    f"train, the next {v:.0%} validate, the last {t:.0%} test")  # fmt: skip
        return (f"by time: leads handed off before {self.validation_start:%Y-%m-%d %H:%M} train, "
                f"until {self.test_start:%Y-%m-%d %H:%M} validate, from then on test")  # fmt: skip


def _random_masks(frame: pd.DataFrame, shares: tuple[float, float], seed: int
                  ) -> tuple[pd.Series, pd.Series, pd.Series]:  # fmt: skip
    """Stratified by label: within each class, rows are shuffled with ``seed`` and cut."""
    y = frame["label"].to_numpy()
    part = np.zeros(len(frame), dtype=np.int8)  # 0 train, 1 validation, 2 test
    rng = np.random.default_rng(seed)
    for cls in (0, 1):
        rows = np.flatnonzero(y == cls)
        rows = rows[rng.permutation(len(rows))]
        n_test = round(shares[1] * len(rows))
        n_valid = round(shares[0] * len(rows))
        part[rows[:n_test]] = 2
        part[rows[n_test:n_test + n_valid]] = 1
    idx = frame.index
    return (pd.Series(part == 0, index=idx), pd.Series(part == 1, index=idx),
            pd.Series(part == 2, index=idx))  # fmt: skip


def split_rows(frame: pd.DataFrame, *, dated: bool, horizon_days: int, gap: bool,
               shares: tuple[float, float] = (0.2, 0.2), seed: int = 0,
               order_only: bool = False) -> RowSplit:  # fmt: skip
    """The split of a labelled handoff frame: the latest ``shares[1]`` of leads (by decision
    time) test, the ``shares[0]`` before them validate; undated: stratified random."""
    if len(frame) < 10:
        raise ConfigError(f"need at least 10 labelled leads to split, found {len(frame)}")
    if not dated:
        return RowSplit("random", seed=seed, shares=shares)
    ts = pd.to_datetime(frame["as_of"]).sort_values().reset_index(drop=True)
    n = len(ts)
    test_start = ts.iloc[min(n - 1, round(n * (1 - shares[1])))].to_pydatetime()
    valid_start = ts.iloc[round(n * (1 - shares[0] - shares[1]))].to_pydatetime()
    if valid_start >= test_start:
        raise ConfigError(
            f"the leads' decision times do not spread enough to split by time (validation "
            f"and test would both start at {test_start:%Y-%m-%d %H:%M})"
        )
    return RowSplit("time", valid_start, test_start, horizon_days, gap, seed, shares,
                    order_only=order_only)  # fmt: skip


def rolling_splits(frame: pd.DataFrame, folds: int, *, dated: bool, horizon_days: int, gap: bool,
                   seed: int = 0, order_only: bool = False) -> list[RowSplit]:  # fmt: skip
    """Backtest folds over one-row-per-lead data: the latest ``folds`` blocks of leads (by
    decision time, each 10% of the leads), each tested after training and validating on
    what came before it; undated: ``folds`` stratified random splits with different seeds."""
    if folds <= 0:
        raise ConfigError(f"folds must be positive, got {folds!r}")
    if not dated:
        return [RowSplit("random", seed=seed + i) for i in range(folds)]
    ts = pd.to_datetime(frame["as_of"]).sort_values().reset_index(drop=True)
    n = len(ts)
    block = 0.1
    out = []
    for i in range(folds, 0, -1):
        start_share = 1 - i * block
        test_start = ts.iloc[min(n - 1, round(n * start_share))].to_pydatetime()
        end_i = round(n * (start_share + block))
        test_end = None if end_i >= n else ts.iloc[end_i].to_pydatetime()
        valid_start = ts.iloc[max(0, round(n * (start_share - 0.2)))].to_pydatetime()
        if valid_start >= test_start or start_share - 0.2 <= 0.2:
            continue  # too little history before this block
        out.append(RowSplit("time", valid_start, test_start, horizon_days, gap, seed,
                            (0.2, block), test_end, order_only))  # fmt: skip
    if not out:
        raise ConfigError(f"too few leads ({n}) to backtest over time; train needs the first "
                          "40% of them, each fold 10%")  # fmt: skip
    return out


def test_period_words(split: TimeSplit | RowSplit, frame: pd.DataFrame, i: int = 1) -> str:
    """A split's test period in words: its quarter or start time; the rows it covers when the
    times only stand in for the rows' order (``frame`` holds them, in order); "random split
    ``i``" for a random split."""
    if isinstance(split, TimeSplit):
        return f"{split.test:%Y-%m-%d}"
    if split.kind == "random":
        return f"random split {i}"
    assert split.test_start is not None
    if split.order_only:
        ts = pd.to_datetime(frame["as_of"])
        first = int((ts < pd.Timestamp(split.test_start)).sum()) + 1
        last = len(ts) if split.test_end is None else int((ts < pd.Timestamp(split.test_end)).sum())
        return f"rows {first:,}-{last:,}"
    return f"{split.test_start:%Y-%m-%d %H:%M}"
