"""Batch scoring on Spark against the DuckDB job, and Spark's partition swaps (issue 6).

One local[2] Spark session, one synthetic CRM of 2,000 contacts with a champion trained on
it (temporary MLflow store), copied from DuckDB into a Spark database, serve the module:
every Spark job costs seconds, so the data stays small. The swap tests use hand-made rows.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import leadscore.serving._spark_score as spark_score
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from leadscore.features import ConfigError, ScoringError, Warehouse, build_lead_frame
from leadscore.features._schema import LEAD_SCORES
from leadscore.features._warehouse import STAGING_PREFIX, StagedPartition, copy_tables
from leadscore.serving import ScoreConfig, ScoreResult, score_warehouse
from leadscore.serving._batch import _CREATE_LEAD_SCORES, LEAD_SCORE_ERRORS, open_contacts

from tests.engines import _unavailable, empty_warehouse
from tests.servers import MODEL_URI, generate_and_train, tracking_store

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 1, 1)
JAN, FEB = datetime(2026, 1, 1), datetime(2026, 2, 1)
# Leads without a buying timeline are not scored: they go to lead_score_errors (about
# 40% of the generated open contacts), so both outputs are compared.
REQUIRED = ("buying_timeline",)


@dataclass(frozen=True)
class Crm:
    duck_url: str
    spark_url: str
    open_contacts: int


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _unavailable("spark", "pyspark is not installed: pip install -e '.[spark]'")
    root = tmp_path_factory.mktemp("spark")
    with tracking_store(root):
        duck_url, _ = generate_and_train(root, n_contacts=2_000, seed=5, as_of=AS_OF)
        with empty_warehouse("spark", root) as spark_url:
            with Warehouse(duck_url) as duck, Warehouse(spark_url) as spark:
                copy_tables(duck, spark, ["contacts", "events", "outcomes"])
                n_open = open_contacts(duck, AS_OF)
            yield Crm(duck_url, spark_url, n_open)


@pytest.fixture(scope="module")
def first_run(crm: Crm) -> tuple[ScoreResult, ScoreResult]:
    """The DuckDB job and the Spark job on the same data, model and as_of (reasons for the
    'capacity' leads: the top ones by probability)."""
    config = {"as_of": AS_OF, "required": REQUIRED}
    duck = score_warehouse(ScoreConfig(crm.duck_url, **config))
    spark = spark_score.score_spark(ScoreConfig(crm.spark_url, **config))
    return duck, spark


def _rows(url: str, table: str, order: str = "as_of, contact_id") -> pd.DataFrame:
    with Warehouse(url, read_only=True) as wh:
        frame = wh.query(f"SELECT * FROM {table} ORDER BY {order}")
    return frame.drop(columns=["scored_at"])[sorted(frame.columns.drop("scored_at"))]


def _staging_tables(url: str) -> list[str]:
    with Warehouse(url, read_only=True) as wh:
        return [t for t in wh.tables() if t.startswith(STAGING_PREFIX)]


def test_spark_scores_equal_the_duckdb_job(
    crm: Crm, first_run: tuple[ScoreResult, ScoreResult]
) -> None:
    duck, spark = first_run
    assert (spark.rows, spark.errors, spark.reasons_rows, spark.error_reasons) == (
        duck.rows, duck.errors, duck.reasons_rows, duck.error_reasons)  # fmt: skip
    # every open contact is scored or listed as unscorable, and both kinds occur
    assert spark.rows + spark.errors == crm.open_contacts
    assert spark.rows > 0 and spark.errors > 0
    # reasons only for the top leads: both branches of the reasons logic ran
    assert 0 < spark.reasons_rows < spark.rows
    ours, theirs = _rows(crm.spark_url, LEAD_SCORES), _rows(crm.duck_url, LEAD_SCORES)
    assert len(ours) == spark.rows
    np.testing.assert_array_equal(ours["contact_id"], theirs["contact_id"])
    np.testing.assert_allclose(ours["probability"], theirs["probability"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours["rule_score"], theirs["rule_score"])
    for col in ("as_of", "model_name", "model_version", "model_tier", "rule_grade", "reasons",
                "rule_hits"):  # fmt: skip
        assert ours[col].tolist() == theirs[col].tolist(), col
    assert (ours["reasons"] != "").sum() == spark.reasons_rows
    order = "contact_id, column_name"
    errors = _rows(crm.spark_url, LEAD_SCORE_ERRORS, order)
    assert errors.astype(str).values.tolist() == _rows(
        crm.duck_url, LEAD_SCORE_ERRORS, order).astype(str).values.tolist()  # fmt: skip
    assert _staging_tables(crm.spark_url) == []


def test_rerun_for_the_same_as_of_replaces_and_keeps_other_partitions(
    crm: Crm, first_run: tuple[ScoreResult, ScoreResult]
) -> None:
    # An older partition (as_of 2025-12-01, two made-up leads) must survive the rerun.
    december = datetime(2025, 12, 1)
    with Warehouse(crm.spark_url) as wh:
        planted = _rows(crm.spark_url, LEAD_SCORES).head(2).assign(as_of=december)
        planted = planted.assign(scored_at=december, rule_hits="planted")
        wh.replace_partition(LEAD_SCORES, planted, partition_column="as_of",
                             partition_value=december,
                             create_sql=_CREATE_LEAD_SCORES.format(id_type="BIGINT"))  # fmt: skip
    # the rerun asks for no reasons: every row of the partition must be the new one
    result = spark_score.score_spark(
        ScoreConfig(crm.spark_url, as_of=AS_OF, required=REQUIRED, reasons="none")
    )
    assert result.rows == first_run[1].rows
    rows = _rows(crm.spark_url, LEAD_SCORES)
    now = rows[rows["as_of"] == AS_OF]
    assert len(now) == result.rows and now["contact_id"].is_unique
    assert (now["reasons"] == "").all()
    kept = rows[rows["as_of"] == december]
    assert kept["rule_hits"].tolist() == ["planted", "planted"]
    assert len(_rows(crm.spark_url, LEAD_SCORE_ERRORS)) == len(
        _rows(crm.duck_url, LEAD_SCORE_ERRORS))  # fmt: skip


def test_failed_count_check_leaves_the_previous_scores(
    crm: Crm, first_run: tuple[ScoreResult, ScoreResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _rows(crm.spark_url, LEAD_SCORES), _rows(crm.spark_url, LEAD_SCORE_ERRORS)
    # One more open contact than the job finds (as if one arrived while it ran): the count
    # check must stop the job before anything is written.
    monkeypatch.setattr(spark_score, "leads_to_score",
                        lambda wh, spec, as_of: crm.open_contacts + 1)  # fmt: skip
    with pytest.raises(ScoringError, match=f"but {crm.open_contacts + 1} contacts are open; "
                                           "nothing was written"):  # fmt: skip
        spark_score.score_spark(ScoreConfig(crm.spark_url, as_of=AS_OF, reasons="none"))
    after = _rows(crm.spark_url, LEAD_SCORES), _rows(crm.spark_url, LEAD_SCORE_ERRORS)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])
    assert _staging_tables(crm.spark_url) == []


def test_parquet_output_from_the_command_line(
    crm: Crm, first_run: tuple[ScoreResult, ScoreResult], tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    argv = ["--warehouse", crm.spark_url, "--model", MODEL_URI, "--as-of", "2026-01-01",
            "--reasons", "none", "--require", ",".join(REQUIRED), "--output-parquet", str(out)]  # fmt: skip
    assert spark_score.main(argv) == 0
    # one Hive-style partition directory per as_of, nothing else visible
    assert [p.name for p in (out / LEAD_SCORES).iterdir() if not p.name.startswith(".")] == [
        "as_of=2026-01-01 00%3A00%3A00"]  # fmt: skip
    scores = pq.read_table(out / LEAD_SCORES).to_pandas().sort_values("contact_id")
    duck = _rows(crm.duck_url, LEAD_SCORES)
    np.testing.assert_array_equal(scores["contact_id"], duck["contact_id"])
    np.testing.assert_allclose(scores["probability"], duck["probability"], rtol=0, atol=1e-12)
    assert scores["rule_hits"].tolist() == duck["rule_hits"].tolist()
    errors = pq.read_table(out / LEAD_SCORE_ERRORS).to_pandas()
    assert errors["contact_id"].nunique() == first_run[0].errors


def test_lead_frame_equals_duckdb_bit_for_bit_with_sub_second_times(tmp_path: Path) -> None:
    from tests.test_point_in_time import CONTACTS, DATA_END, EVENTS, OUTCOMES, S2, S

    # The narrated point-in-time data, plus times with microseconds: contact 1 created a
    # quarter second after midnight, an open 123,457 us before S, a touch 1 us after
    # contact 6 was created. Spark's UNIX_TIMESTAMP would round these to whole seconds.
    contacts = CONTACTS.copy()
    first = contacts["contact_id"] == 1
    contacts.loc[first, "created_at"] = pd.Timestamp("2024-01-10 00:00:00.250001")
    events = pd.concat([EVENTS, pd.DataFrame({
        "contact_id": [7, 6], "event_type": ["email_open", "sales_touch"],
        "occurred_at": pd.to_datetime(["2024-03-31 23:59:59.876543", "2024-01-01 00:00:00.000001"]),
    })], ignore_index=True)  # fmt: skip
    frames = []
    for engine in ("duckdb", "spark"):
        with empty_warehouse(engine, tmp_path) as url, Warehouse(url) as wh:
            for name, frame in (("contacts", contacts), ("events", events),
                                ("outcomes", OUTCOMES)):  # fmt: skip
                wh.write_table(name, frame)
            frames.append(build_lead_frame(wh, [S, S2], with_labels=True, horizon_days=90,
                                           data_end=DATA_END).frame)  # fmt: skip
    duck, spark = frames
    pd.testing.assert_frame_equal(spark, duck, check_exact=True)
    seven = duck.set_index("contact_id").loc[7]
    assert seven["days_since_last_event"] == (1711929600 - 1711929599.876543) / 86400.0


def _leads(as_of: datetime, ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"contact_id": pd.Series(ids, dtype="int64"),
                         "as_of": pd.Series([as_of] * len(ids), dtype="datetime64[us]"),
                         "score": pd.Series(ids, dtype="float64")})  # fmt: skip


CREATE = "contact_id BIGINT NOT NULL, as_of TIMESTAMP NOT NULL, score DOUBLE"


def test_swap_partitions_replace_one_partition_or_nothing(tmp_path: Path) -> None:
    def replace(wh: Warehouse, table: str, frame: pd.DataFrame, when: datetime,
                expected: int | None) -> int:  # fmt: skip
        return wh.replace_partition(table, frame, partition_column="as_of",
                                    partition_value=when, create_sql=CREATE,
                                    expected_rows=expected)  # fmt: skip

    def contents(wh: Warehouse, table: str = "s") -> list[tuple[str, int]]:
        frame = wh.query(f"SELECT as_of, contact_id FROM {table} ORDER BY as_of, contact_id")
        return [(f"{a:%m-%d}", int(c)) for a, c in frame.itertuples(index=False)]

    with empty_warehouse("spark", tmp_path) as url, Warehouse(url) as wh:
        # January holds leads 1 and 2, February lead 3.
        assert replace(wh, "s", _leads(JAN, [1, 2]), JAN, 2) == 2
        assert replace(wh, "s", _leads(FEB, [3]), FEB, 1) == 1
        assert wh.partition_columns("s") == ["as_of"]
        # A new January of three leads, but four were expected: nothing changes.
        with pytest.raises(ScoringError, match=r"wrote 3 rows .* but expected 4"):
            replace(wh, "s", _leads(JAN, [4, 5, 6]), JAN, 4)
        assert contents(wh) == [("01-01", 1), ("01-01", 2), ("02-01", 3)]
        # Rows of February offered as January's are refused before any swap.
        with pytest.raises(ScoringError, match="1 rows outside as_of="):
            replace(wh, "s", pd.concat([_leads(JAN, [7]), _leads(FEB, [8])]), JAN, None)
        assert contents(wh) == [("01-01", 1), ("01-01", 2), ("02-01", 3)]
        # The rerun for January replaces it; February stays.
        assert replace(wh, "s", _leads(JAN, [4, 5, 6]), JAN, 3) == 3
        assert contents(wh) == [("01-01", 4), ("01-01", 5), ("01-01", 6), ("02-01", 3)]
        # While the check runs, the target's name reads the staged rows: what the partition
        # will hold (two leads), not what it holds (three).
        seen = []

        def look(counts: Mapping[str, int]) -> None:
            n = wh.scalar("SELECT count(*) FROM s WHERE as_of = CAST(? AS TIMESTAMP)", [JAN])
            seen.append((dict(counts), n))

        wh.write_table("staged_s", _leads(JAN, [7, 8]))
        staged = [StagedPartition("s", "staged_s", CREATE)]
        assert wh.swap_partitions(staged, partition_column="as_of", partition_value=JAN,
                                  check=look) == {"s": 2}  # fmt: skip
        assert seen == [({"s": 2}, 2)]
        assert contents(wh) == [("01-01", 7), ("01-01", 8), ("02-01", 3)]
        # No rows for January: the partition goes, February stays.
        assert replace(wh, "s", _leads(JAN, []), JAN, 0) == 0
        assert contents(wh) == [("02-01", 3)]
        # A table not partitioned by as_of would be overwritten whole: refused.
        wh.write_table("flat", _leads(JAN, [1]))
        with pytest.raises(ConfigError, match="must be partitioned by"):
            replace(wh, "flat", _leads(JAN, [9]), JAN, 1)
        assert contents(wh, "flat") == [("01-01", 1)]
        assert [t for t in wh.tables() if t.startswith(STAGING_PREFIX)] == []
        assert "staged_s" not in wh.tables()


def test_parquet_partition_swap_replaces_and_recovers(tmp_path: Path) -> None:
    from leadscore.features._spark import SparkWarehouse
    from leadscore.features._spark_parquet import _swap_names, replace_parquet_partitions

    path = str(tmp_path / "dataset")

    def replace(wh: SparkWarehouse, frame: pd.DataFrame, when: datetime,
                check: Callable[[Mapping[str, int]], None] | None = None) -> dict[str, int]:  # fmt: skip
        return replace_parquet_partitions(wh.spark, {path: wh.dataframe(frame)},
                                          partition_column="as_of", partition_value=when,
                                          check=check)  # fmt: skip

    def contents() -> list[tuple[str, int]]:
        frame = pq.read_table(path).to_pandas()
        return sorted((str(a)[5:10], int(c)) for a, c in zip(frame["as_of"],
                                                              frame["contact_id"], strict=True))  # fmt: skip

    def refuse(counts: Mapping[str, int]) -> None:
        raise ScoringError(f"refused {counts}")

    with empty_warehouse("spark", tmp_path) as url, Warehouse(url) as wh:
        assert isinstance(wh, SparkWarehouse)
        assert replace(wh, _leads(JAN, [1, 2]), JAN) == {path: 2}
        assert replace(wh, _leads(FEB, [3]), FEB) == {path: 1}
        # a failing check leaves both partitions as they were
        with pytest.raises(ScoringError, match="refused"):
            replace(wh, _leads(JAN, [4, 5, 6]), JAN, refuse)
        assert contents() == [("01-01", 1), ("01-01", 2), ("02-01", 3)]
        # the rerun replaces January only
        assert replace(wh, _leads(JAN, [4, 5, 6]), JAN) == {path: 3}
        assert contents() == [("01-01", 4), ("01-01", 5), ("01-01", 6), ("02-01", 3)]
        # A swap killed between its two renames left January in the trash: the next run
        # for January puts it back first, even when that run then fails its check.
        _, trash = _swap_names(JAN)
        january = Path(path) / "as_of=2026-01-01 00%3A00%3A00"
        shutil.move(january, Path(path) / trash)
        assert contents() == [("02-01", 3)]
        with pytest.raises(ScoringError, match="refused"):
            replace(wh, _leads(JAN, [7]), JAN, refuse)
        assert contents() == [("01-01", 4), ("01-01", 5), ("01-01", 6), ("02-01", 3)]
        # no rows for January removes the partition
        assert replace(wh, _leads(JAN, []), JAN) == {path: 0}
        assert contents() == [("02-01", 3)]
        assert sorted(p.name for p in Path(path).iterdir()) == ["as_of=2026-02-01 00%3A00%3A00"]
