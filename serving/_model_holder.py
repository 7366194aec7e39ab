"""The model a service process scores with, and how it follows its registry alias.

Contract: :class:`ModelHolder` loads the version the alias points at when started; a
background thread re-resolves the alias every ``poll_seconds`` and, when it moved, loads the
new version and swaps it in atomically (requests in flight finish on the old one). If loading
fails the old version keeps serving and the failure is kept for ``/readyz`` and logged.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from leadscore.models import ScoringBundle
from leadscore.training._registry import load_bundle, resolve_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version."""

    bundle: ScoringBundle
    name: str
    version: str
    uri: str
    loaded_at: datetime


class ModelHolder:
    """Holds the current model; see the module docstring."""

    def __init__(self, uri: str, poll_seconds: float) -> None:
        self.uri = uri
        self.poll_seconds = poll_seconds
        self.alias = uri.split("@", 1)[1] if "@" in uri else None
        self._current: LoadedModel | None = None
        self.last_error: str | None = None
        self.last_checked: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> LoadedModel | None:
        """The model requests are scored with (None until the first load succeeds)."""
        return self._current

    def refresh(self) -> bool:
        """Load the version the URI points at if it differs from the current one.
        Returns True when a new version was swapped in. Never raises."""
        with self._lock:
            self.last_checked = datetime.now(UTC)
            try:
                name, version = resolve_model(self.uri)
                current = self._current
                if current is not None and current.version == version:
                    self.last_error = None  # the alias points at what is being served
                    return False
                exact = f"models:/{name}/{version}" if version else self.uri
                bundle = load_bundle(exact)
            except Exception as exc:  # keep serving the old model, whatever went wrong
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("loading %s failed, keeping version %s: %s", self.uri,
                            None if self._current is None else self._current.version,
                            self.last_error)  # fmt: skip
                return False
            self._current = LoadedModel(bundle, name, version, self.uri, datetime.now(UTC))
            self.last_error = None
            log.info("serving %s version %s", name, version)
            return True

    def start(self) -> None:
        """Load now and start polling the alias."""
        self.refresh()
        if self.alias is None:
            return
        self._thread = threading.Thread(target=self._poll, name="leadscore-model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()
