"""Time-based splits: train on earlier snapshots, validate on the next, test on the latest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from features import ConfigError


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


def split_snapshots(snapshots: list[datetime]) -> TimeSplit:
    """The latest labelled snapshot is the test quarter, the one before validates and
    calibrates, the rest train. Needs at least three snapshots."""
    snaps = sorted(snapshots)
    if len(snaps) < 3:
        raise ConfigError(
            "time-based training needs at least 3 labelled quarterly snapshots (train, "
            f"validation, test); found {len(snaps)}: {[f'{s:%Y-%m-%d}' for s in snaps]}. "
            "Use more history, an earlier --as-of, or a shorter --horizon-days"
        )
    return TimeSplit(train=tuple(snaps[:-2]), validation=snaps[-2], test=snaps[-1])
