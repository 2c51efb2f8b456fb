"""The environment a framework agent runs in: the caller's, without what would send its spans or
calls elsewhere, and with every framework's own telemetry off.

Standard library only: the test harness (``tests/harness/frameworks.py``) and the demo's fleet
(``deploy/framework-agents/fleet.py``) both start agents with it, from outside the frameworks'
environment.
"""

from __future__ import annotations

import os
from typing import Mapping

# what an agent must not inherit: the switches that silence or redirect OpenTelemetry, another
# Python's paths, and model vendors' credentials (a fake model needs none)
DROPPED = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_",
    "OTEL_PYTHON_",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "OPENAI_",
    "ANTHROPIC_",
    "AZURE_",
    "AWS_",
    "GOOGLE_",
    "GEMINI_",
    "LANGSMITH_",
    "LANGCHAIN_",
    "LOGFIRE_",
    "TRACELOOP_",
)
PROXIES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")  # it speaks to the endpoint only
# every framework's own telemetry, tracing to a vendor and downloads turned off
QUIET = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_OTEL_ENABLED": "false",
    "TRACELOOP_TELEMETRY": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "false",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def agent_env(extra: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without proxies, the dropped variables and vendor
    keys, with ``QUIET`` and then ``extra`` on top."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k.lower() not in PROXIES and not k.startswith(DROPPED)}
    return {**env, **QUIET, **(extra or {})}
