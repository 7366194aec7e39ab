"""Where MLflow runs and models live.

``MLFLOW_TRACKING_URI`` wins when set (a real ``mlflow server`` in production). Otherwise the
embedded default is ``sqlite:///mlflow.db`` in the working directory, with artifacts in
``./mlartifacts`` next to it, so a second process started in the same directory finds the
same runs and registered models.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "leadscore"


def tracking_uri() -> str:
    """The tracking URI in force (see the module docstring)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure_tracking() -> str:
    """Point MLflow (tracking and registry) at :func:`tracking_uri`; returns it."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str = DEFAULT_EXPERIMENT) -> str:
    """Create the experiment if needed (with local artifacts for a sqlite store); returns its id."""
    client = MlflowClient()
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    artifact_location = None
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        db_path = Path(uri[len("sqlite:///") :]).resolve()
        artifact_location = (db_path.parent / "mlartifacts").as_uri()
    return str(client.create_experiment(name, artifact_location=artifact_location))
