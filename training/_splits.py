"""Time-based splits: train on earlier snapshots, validate on the next, test on a later one.

Every label used for training or validation must be *known* at the test snapshot: a snapshot
``s`` may train or validate for test snapshot ``t`` only if ``s + horizon <= t``. With
quarterly snapshots and a 90-day horizon that is simply "every earlier quarter"; with a
longer horizon the quarters right before the test one are skipped (their outcomes were
still unknown when the test quarter began).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
