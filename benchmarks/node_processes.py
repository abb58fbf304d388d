"""The installed nodes, each in its own process, as ``ros2 launch memory_nodes memory.launch.py``
starts them: their executables under ``<prefix>/lib/memory_nodes`` with the installed
config/memory.yaml, changed only where a benchmark says so. Used by the soak and by the
cross-process ask benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO, Any

import yaml

import memory_nodes

MEMORY_EXECUTABLES = ("spatial_memory", "temporal_memory", "episodic_memory", "semantic_memory")
PREFIX = Path(memory_nodes.__file__).resolve().parents[4]  # <prefix>/lib/python3.X/site-packages/memory_nodes


def installed_params(directory: Path, overrides: dict[str, dict[str, Any]], name: str = "params.yaml") -> Path:
    """The installed memory.yaml with every memory's journal in ``directory`` and ``overrides``
    (executable -> parameters) applied, written to ``directory / name``."""
    params = yaml.safe_load((PREFIX / "share" / "memory_nodes" / "config" / "memory.yaml").read_text())
    for executable in MEMORY_EXECUTABLES:
        params.setdefault(f"/**/{executable}", {}).setdefault("ros__parameters", {})["memory_directory"] = str(directory)
    for executable, values in overrides.items():
        params.setdefault(f"/**/{executable}", {}).setdefault("ros__parameters", {}).update(values)
    path = directory / name
    path.write_text(yaml.safe_dump(params))
    return path


class NodeProcesses:
    """Installed node executables started in ``namespace``, each in its own process group with its
    output in ``<directory>/<executable>.log``; ``stop`` sends SIGINT, as Ctrl-C under launch does."""

    def __init__(self, executables: tuple[str, ...], namespace: str, params: Path, directory: Path) -> None:
        self.directory = directory
        self._logs: dict[str, IO[str]] = {name: open(directory / f"{name}.log", "w") for name in executables}
        self.processes = {name: subprocess.Popen([str(PREFIX / "lib" / "memory_nodes" / name), "--ros-args", "-r",
                                                  f"__ns:={namespace}", "--params-file", str(params)],
                                                 stdout=self._logs[name], stderr=subprocess.STDOUT,
                                                 start_new_session=True)
                          for name in executables}

    def stop(self, timeout_s: float = 30.0) -> dict[str, int]:
        """SIGINT to every process still running, then each one's exit status (killed after
        ``timeout_s``)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
            self._logs[name].close()
        return codes

    def rss_mb(self) -> dict[str, float]:
        return {name: rss_mb(process.pid) for name, process in self.processes.items()}


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) / 1024.0 for line in status if line.startswith("VmRSS:"))
    except (FileNotFoundError, StopIteration):
        return 0.0
