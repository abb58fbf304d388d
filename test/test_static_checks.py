"""Static checks are part of the test command: ruff over the repository (ruff.toml) and mypy,
strict on the ROS-free layers core/ and storage/ (mypy.ini)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import SOURCE_DIR

CACHE = Path.cwd() / "static_check_cache"  # the build folder under colcon, never the source tree


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, timeout=600,
                          cwd=SOURCE_DIR)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--cache-dir", str(CACHE / "ruff"), "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_mypy_strict_on_core_and_storage_finds_nothing():
    result = run("mypy", "--config-file", "mypy.ini", "--cache-dir", str(CACHE / "mypy"))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "no issues found" in result.stdout
