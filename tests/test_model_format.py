"""The registered model is data, independent of our code layout.

A model registered by this version is logged as code with a bundle of LightGBM text and
versioned JSON (no pickled leadscore class): it loads in a fresh process from its artifact
folder alone and scores raw warehouse rows (``SELECT * FROM contacts``, integer ids) to the
same numbers; an artifact with an unknown ``format_version`` fails with a message naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from leadscore.features import Warehouse

from tests.servers import generate_and_train, tracking_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    root = tmp_path_factory.mktemp("format")
    with tracking_store(root):
        url, _ = generate_and_train(root, n_contacts=3_000, seed=5, as_of=datetime(2026, 1, 1))
        local = Path(mlflow.artifacts.download_artifacts("models:/lead-quality@champion",
                                                         dst_path=str(root / "model")))  # fmt: skip
        yield url, root, local


def test_no_pickled_leadscore_class_in_the_artifacts(registered: tuple[str, Path, Path]) -> None:
    _, _, local = registered
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    bundle = [f for f in files if f.startswith("artifacts/bundle/")]
    head = json.loads((local / "artifacts/bundle/bundle.json").read_text())
    # the model's own files: LightGBM's text and JSON, or the logistic family's JSON
    # (whichever family the backtest supported)
    own = {"lightgbm": ["artifacts/bundle/lead_model.json", "artifacts/bundle/lightgbm.txt"],
           "logistic": ["artifacts/bundle/logistic_model.json"]}[head["model_family"]]
    assert bundle == sorted(["artifacts/bundle/bundle.json", *own, "artifacts/bundle/rules.json"])
    assert not any(f.endswith((".pkl", ".joblib", ".cloudpickle")) for f in files)
    assert head["format_version"] == 1 and head["spec"]["format_version"] == 1


def test_loads_in_a_fresh_process_from_its_artifacts_and_scores_raw_rows(
    registered: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, _, local = registered
    with Warehouse(url, read_only=True) as wh:
        rows = wh.query("SELECT * FROM contacts ORDER BY contact_id LIMIT 5")
    rows.to_parquet(tmp_path / "rows.parquet")
    in_process = mlflow.pyfunc.load_model(str(local)).predict(rows)
    script = (
        "import sys, pandas as pd, mlflow\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "out = model.predict(pd.read_parquet(sys.argv[2]))\n"
        "out.to_json(sys.argv[3], orient='records', double_precision=15)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # no registry
    done = subprocess.run([sys.executable, "-c", script, str(local), str(tmp_path / "rows.parquet"),
                           str(tmp_path / "out.json")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fresh = pd.read_json(tmp_path / "out.json", orient="records")
    # integer ids come back as given; both scores for every row
    assert fresh["contact_id"].tolist() == rows["contact_id"].tolist()
    assert fresh["probability"].tolist() == pytest.approx(in_process["probability"].tolist(),
                                                          abs=1e-12)  # fmt: skip
    assert fresh["rule_score"].tolist() == in_process["rule_score"].tolist()
    assert fresh["reasons"].tolist() == in_process["reasons"].tolist()


def test_an_unknown_format_version_fails_naming_it(
    registered: tuple[str, Path, Path], tmp_path: Path
) -> None:
    _, _, local = registered
    copy = tmp_path / "model"
    shutil.copytree(local, copy)
    head_path = copy / "artifacts/bundle/bundle.json"
    head = json.loads(head_path.read_text())
    head["format_version"] = 99
    head_path.write_text(json.dumps(head))
    with pytest.raises(Exception, match="format_version 99 is not one this leadscore reads"):
        mlflow.pyfunc.load_model(str(copy))
