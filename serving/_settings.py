"""Settings of the HTTP scoring service: typed, strict, read from the environment once.

| variable | default | meaning |
|---|---|---|
| ``LEADSCORE_MODEL_URI`` | ``models:/lead-quality@champion`` | the model (an alias is followed) |
| ``LEADSCORE_MAX_LEADS`` | 1000 | most leads in one request (more: 413) |
| ``LEADSCORE_MAX_BODY_BYTES`` | 4194304 | largest request body (more: 413) |
| ``LEADSCORE_POLL_SECONDS`` | 30 | how often the alias is checked for a new version |
| ``LEADSCORE_API_TOKEN`` | unset | when set, every endpoint but /healthz needs ``Bearer TOKEN`` |
"""

from __future__ import annotations

import os
from functools import lru_cache

from leadscore.features import ConfigError
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ServiceSettings(BaseModel):
    """Settings of one service process."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_uri: str = "models:/lead-quality@champion"
    max_leads: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    poll_seconds: float = Field(default=30.0, gt=0)
    api_token: str | None = None


_ENV = {
    "model_uri": "LEADSCORE_MODEL_URI",
    "max_leads": "LEADSCORE_MAX_LEADS",
    "max_body_bytes": "LEADSCORE_MAX_BODY_BYTES",
    "poll_seconds": "LEADSCORE_POLL_SECONDS",
    "api_token": "LEADSCORE_API_TOKEN",
}


def settings_from_env(**overrides: object) -> ServiceSettings:
    """Settings from ``LEADSCORE_*`` variables, then ``overrides`` (e.g. CLI flags)."""
    values: dict[str, object] = {k: os.environ[v] for k, v in _ENV.items() if os.environ.get(v)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServiceSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_ENV.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"service settings: {problems}") from exc


@lru_cache
def get_settings() -> ServiceSettings:
    """The process's settings (cached; a FastAPI dependency)."""
    return settings_from_env()
