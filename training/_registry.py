"""The model registry: resolving URIs, loading bundles, moving aliases.

Aliases: ``champion`` is what batch scoring and the service use; ``challenger`` is the
newest trained version waiting for the promotion gate. Every alias move records the version
it replaced in a registered-model tag (``champion_history``), so :func:`rollback` can move
``champion`` back without guessing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import mlflow
import mlflow.pyfunc
from leadscore.features import ConfigError, ModelError
from leadscore.models import ScoringBundle
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
HISTORY_TAG = "champion_history"
# MLflow's SQL stores write an alias or a tag as "read the row, then insert or update it"; a
# process that inserts the same key between the two makes the other's insert fail
_UNIQUE_VIOLATION = ("uniqueviolation", "unique constraint", "integrityerror", "duplicate entry",
                     "duplicate key")  # fmt: skip
WRITE_ATTEMPTS = 5


def registry_write(write: Callable[..., object], *args: object) -> None:
    """Call ``write(*args)``, an MLflow client call that sets an alias or a tag
    (``set_registered_model_alias``, ``set_registered_model_tag``, ``set_model_version_tag``),
    again when it lost an insert race.

    MLflow's SQL store (sqlite, PostgreSQL, MySQL; behind ``mlflow server`` or not) sets
    these by reading the row and then inserting it when it was not there. When two
    processes set the same key at once (two train jobs finishing together, both moving
    ``challenger``), both read nothing, one insert wins, and the other comes back as
    BAD_REQUEST naming the unique violation. The row exists by then, so the next attempt
    updates it: the last writer wins, as it does without the race. Any other error, or a
    race lost :data:`WRITE_ATTEMPTS` times, is raised as it came."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            write(*args)
            return
        except MlflowException as exc:
            text = str(exc.message).lower()
            if attempt == WRITE_ATTEMPTS or not any(m in text for m in _UNIQUE_VIOLATION):
                raise
            time.sleep(0.02 * attempt)


def resolve_model(uri: str) -> tuple[str, str]:
    """``(name, version)`` for ``models:/name@alias`` or ``models:/name/N``; any other URI
    gives the URI itself as the name and an empty version."""
    match = _MODEL_URI.match(uri)
    if not match:
        return uri, ""
    name = match["name"]
    if match["version"]:
        return name, match["version"]
    try:
        mv = MlflowClient().get_model_version_by_alias(name, match["alias"])
    except MlflowException as exc:
        raise ConfigError(
            f"model {uri!r} not found in the registry at {mlflow.get_tracking_uri()}: {exc.message}"
        ) from exc
    return name, str(mv.version)


def load_bundle(uri: str) -> ScoringBundle:
    """The scoring bundle inside a registered LeadScoringModel."""
    try:
        model = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise ConfigError(
            f"cannot load model {uri!r} from {mlflow.get_tracking_uri()}: {exc.message}"
        ) from exc
    bundle: ScoringBundle = model.unwrap_python_model().bundle
    return bundle


def alias_version(name: str, alias: str) -> str | None:
    """The version an alias points at, or None when the alias is not set."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def champion_history(name: str) -> list[str]:
    """Versions that were champion before the current one, oldest first."""
    tags = MlflowClient().get_registered_model(name).tags
    return list(json.loads(tags.get(HISTORY_TAG, "[]")))


def set_champion(name: str, version: str) -> str | None:
    """Point ``champion`` at ``version``, remembering the one it replaces; returns that."""
    client = MlflowClient()
    previous = alias_version(name, "champion")
    if previous is not None and previous != version:
        history = [*champion_history(name), previous]
        registry_write(client.set_registered_model_tag, name, HISTORY_TAG,
                       json.dumps(history[-50:]))  # fmt: skip
    registry_write(client.set_registered_model_alias, name, "champion", version)
    return previous


def registered_names() -> list[str]:
    """The names of every registered model, sorted."""
    client = MlflowClient()
    names: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        names.extend(m.name for m in page)
        token = page.token
        if not token:
            return sorted(names)


def _require_registered(name: str) -> None:
    """A ModelError listing the registered names unless model ``name`` is registered."""
    try:
        MlflowClient().get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        names = registered_names()
        found = f"registered models: {names}" if names else "no model is registered yet"
        raise ModelError(
            f"model {name!r} is not registered in the registry at {mlflow.get_registry_uri()}; "
            f"expected one of the registered names ({found})"
        ) from None


def rollback(name: str) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion; returns ``(from, to)`` versions.
    A model that is not registered is a ModelError listing the registered names."""
    _require_registered(name)
    client = MlflowClient()
    current = alias_version(name, "champion")
    history = champion_history(name)
    if current is None or not history:
        raise ConfigError(
            f"model {name!r} has no previous champion to roll back to "
            f"(current champion: {current}, history: {history})"
        )
    target = history[-1]
    registry_write(client.set_registered_model_alias, name, "champion", target)
    registry_write(client.set_registered_model_tag, name, HISTORY_TAG, json.dumps(history[:-1]))
    registry_write(client.set_model_version_tag, name, current, "rolled_back", "true")
    return current, target
