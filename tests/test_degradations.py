"""Silent degradations that are now named: a yes/no value the pyfunc used to score as missing
while batch scoring rejects it, and a run left RUNNING by a killed job.

(The other two of issue 15's defect 10 are tested where they live: an as_of in the future in
tests/test_batch_concurrency.py, ``inf`` and ``1e308`` in an import in tests/test_probe_cli.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from leadscore.features import DataValidationError
from leadscore.features._spec import demo_spec
from leadscore.models import LeadScoringModel, to_model_input
from leadscore.serving._batch import unscorable
from leadscore.training import configure_tracking
from leadscore.training._tracking import HOST_TAG, PID_TAG, ensure_experiment
from mlflow.tracking import MlflowClient


def _leads(**columns: list[object]) -> pd.DataFrame:
    """Three leads of the demo spec, ids 7, 8, 9, with the given columns."""
    return pd.DataFrame({"contact_id": [7, 8, 9], **columns})


def test_the_pyfunc_refuses_a_yes_no_value_that_batch_scoring_refuses() -> None:
    # lead 8 says "maybe" for phone_valid: batch scoring puts it in lead_score_errors with
    # this reason; the pyfunc used to read it as missing and score it
    leads = _leads(phone_valid=[True, "maybe", False])
    problems = unscorable(leads, flags=("phone_valid",))
    assert problems.to_dict("records") == [{"position": 1, "column_name": "phone_valid",
                                            "value": "maybe",
                                            "reason": "phone_valid must be true/false (1/0)"}]  # fmt: skip
    # the pyfunc's predict() refuses before scoring anything, with the same reason
    model = LeadScoringModel()
    model.bundle = SimpleNamespace(spec=demo_spec())  # type: ignore[assignment]
    with pytest.raises(DataValidationError) as caught:
        model.predict(None, leads)
    assert str(caught.value) == (
        "table 'lead rows', column 'phone_valid': phone_valid must be true/false (1/0) "
        "(1 row affected; e.g. 'maybe')"
    )
    assert (caught.value.column, caught.value.problem) == ("phone_valid", problems["reason"][0])


def test_model_input_reads_yes_no_words_and_refuses_what_is_not_a_number() -> None:
    leads = _leads(phone_valid=["yes", "No", None], requested_demo=[1, 0, None],
                   company_size=["250", None, 12.0])  # fmt: skip
    original = leads.copy()
    got = to_model_input(leads)
    assert got["phone_valid"].tolist()[:2] == [1.0, 0.0] and pd.isna(got["phone_valid"][2])
    assert got["requested_demo"].tolist()[:2] == [1.0, 0.0]
    assert got["company_size"].tolist()[0] == 250.0 and got["company_size"].tolist()[2] == 12.0
    # 2 is neither yes nor no; "ten" is no number (both used to become missing)
    for column, values, problem, example in (
        ("requested_demo", [1, 2, 0], "requested_demo must be true/false (1/0)", "2"),
        ("company_size", ["ten", 5, None], "company_size must be a non-negative number of "
         "employees", "ten"),
        # batch scoring refuses a negative or infinite size (unscorable); so does the pyfunc
        ("company_size", [-5, 5, None], "company_size must be a non-negative number of "
         "employees", "-5.0"),
        ("company_size", [float("inf"), 5, None], "company_size must be a non-negative "
         "number of employees", "inf"),
    ):
        with pytest.raises(DataValidationError) as caught:
            to_model_input(_leads(**{column: values}))
        assert str(caught.value) == (f"table 'lead rows', column {column!r}: {problem} "
                                     f"(1 row affected; e.g. {example!r})")  # fmt: skip
    pd.testing.assert_frame_equal(leads, original)  # its input, unchanged


# A job that starts a run the way every leadscore job should (training._tracking.start_run),
# says so, and is killed before the run ends.
JOB = textwrap.dedent("""
    import time
    from leadscore.training import configure_tracking
    from leadscore.training._tracking import ensure_experiment, start_run
    configure_tracking()
    with start_run(ensure_experiment(), run_name="killed") as run:
        print(run.info.run_id, flush=True)
        time.sleep(600)
""")


def test_a_killed_jobs_run_is_marked_failed_when_the_next_job_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with subprocess.Popen([sys.executable, "-c", JOB], stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "MLFLOW_TRACKING_URI": uri}) as job:  # fmt: skip
        try:
            assert job.stdout is not None
            run_id = job.stdout.readline().strip()
            job.send_signal(signal.SIGKILL)
            assert job.wait(timeout=30) == -signal.SIGKILL
        finally:
            job.kill()
    configure_tracking()
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING"  # nothing ended it: the process died
    assert run.data.tags[PID_TAG] == str(job.pid) and HOST_TAG in run.data.tags
    ensure_experiment()  # what the next job does first
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["leadscore.failure"] == (
        f"process {job.pid} on {run.data.tags[HOST_TAG]} ended without finishing the run"
    )
