"""The receiver's configuration: a YAML file (``--config.file``), ``AGENTWATCH_INCIDENTS_*``
environment variables, then flags. Validated; errors name the key and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentwatch import config

# the failure classes where waiting costs money; nothing else may be remediated
REMEDIABLE = ("AgentBudgetBurnSpike", "AgentReasoningLoop")


class RemediationSettings(config.StrictModel):
    enabled: bool = False
    dry_run: bool = True  # log and audit what would be done; act only when false
    alerts: list[str] = Field(default_factory=lambda: list(REMEDIABLE))
    agents: list[str] = Field(default_factory=list)  # agent names or ids; nothing is acted on outside this list
    max_actions_per_hour: int = Field(default=3, ge=1)
    paperclip_url: str | None = None
    token: SecretStr | None = None  # its own token: pause agents and comment on issues, nothing else
    token_file: Path | None = None
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("alerts")
    @classmethod
    def _remediable(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in REMEDIABLE:
                raise ValueError(f"{name!r} cannot be remediated automatically (only {', '.join(REMEDIABLE)})")
        return value

    @model_validator(mode="after")
    def _complete(self) -> "RemediationSettings":
        if self.token_file is not None and self.token is None:
            self.token = SecretStr(config.read_token(self.token_file))
        if self.enabled and not self.agents:
            raise ValueError("remediation.enabled needs remediation.agents (the allowlist)")
        if self.enabled and not self.paperclip_url:
            raise ValueError("remediation.enabled needs remediation.paperclip_url")
        return self


class IncidentsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTWATCH_INCIDENTS_", env_nested_delimiter="__", extra="forbid")

    listen_address: str = "127.0.0.1:9096"
    dir: Path = Path("incidents")
    secret: SecretStr | None = None  # the shared secret Alertmanager sends as a bearer token
    secret_file: Path | None = None
    remediation: RemediationSettings = Field(default_factory=RemediationSettings)

    @field_validator("listen_address")
    @classmethod
    def _listen(cls, value: str) -> str:
        config.split_listen_address(value)
        return value

    @model_validator(mode="after")
    def _secret(self) -> "IncidentsSettings":
        if self.secret_file is not None and self.secret is None:
            self.secret = SecretStr(config.read_token(self.secret_file))
        host, _ = config.split_listen_address(self.listen_address)
        if self.secret is None and host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"listen_address {self.listen_address!r} is not loopback: set secret_file (the webhook's shared secret)")
        return self


def load(path: str | None, overrides: dict[str, Any]) -> IncidentsSettings:
    data: dict[str, Any] = config.read_yaml_mapping(path, "config.file") if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config.build(IncidentsSettings, data)
