"""External tools the tests call (promtool, amtool, openssl, npm...)."""

from __future__ import annotations

import os
import shutil

import pytest


def tool(name: str) -> str:
    """The tool's path; a missing tool fails in CI (env CI set) and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"{name} is not installed")
    return path
