"""The canary suite file: synthetic tasks with known answers.

canaries:
  - name: arithmetic
    title: What is 6 times 7?
    description: Reply with the number only, as a comment on this task.
    agents: [Claude Shaped]        # agent names or ids; and/or
    roles: [engineer]              # every agent of these roles
    scorer: {type: numeric, expected: 42, tolerance: 0}
    interval: 1h
    timeout: 10m
    max_spend_per_day: 1.00        # USD per canary and agent; further runs are skipped
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentwatch.analysis import scoring
from agentwatch.config import ConfigError, parse_duration, read_yaml_mapping


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExactScorer(StrictModel):
    type: Literal["exact"]
    expected: str
    case_sensitive: bool = False

    def score(self, answer: str) -> scoring.Score:
        return scoring.exact(answer, self.expected, self.case_sensitive)


class RegexScorer(StrictModel):
    type: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def score(self, answer: str) -> scoring.Score:
        return scoring.regex(answer, self.pattern)


class ContainsAllScorer(StrictModel):
    type: Literal["contains_all"]
    values: list[str] = Field(min_length=1)
    case_sensitive: bool = False

    def score(self, answer: str) -> scoring.Score:
        return scoring.contains_all(answer, self.values, self.case_sensitive)


class JsonKeysScorer(StrictModel):
    type: Literal["json_keys"]
    keys: Union[list[str], dict[str, Literal["string", "number", "integer", "boolean", "object", "array", "null", ""]]]

    def score(self, answer: str) -> scoring.Score:
        return scoring.json_keys(answer, self.keys)


class NumericScorer(StrictModel):
    type: Literal["numeric"]
    expected: float
    tolerance: float = Field(default=0.0, ge=0)

    def score(self, answer: str) -> scoring.Score:
        return scoring.numeric(answer, self.expected, self.tolerance)


Scorer = Annotated[Union[ExactScorer, RegexScorer, ContainsAllScorer, JsonKeysScorer, NumericScorer], Field(discriminator="type")]


class Canary(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    agents: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    scorer: Scorer
    interval: float = 3600.0
    timeout: float = 600.0
    max_spend_per_day: float = Field(default=1.0, ge=0)

    @field_validator("interval", "timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    def targets(self, agent) -> bool:
        return agent.id in self.agents or agent.name in self.agents or agent.role in self.roles


class Suite(StrictModel):
    canaries: list[Canary] = Field(default_factory=list)

    @field_validator("canaries")
    @classmethod
    def _unique(cls, value: list[Canary]) -> list[Canary]:
        names = [c.name for c in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"canary names must be unique, {dup[0]!r} is repeated")
        return value


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; ``ConfigError`` names the key and the bad value."""
    data = read_yaml_mapping(path, "canary.suite_file")
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err.get("loc", ()))
        value = err.get("input")
        if isinstance(value, (dict, list)):
            value = "…"
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        raise ConfigError(f"canary suite {key}={value!r}: {msg}") from None
