"""Every installed executable run as ``ros2 launch`` runs it, stopped as a terminal's Ctrl-C stops it.

Under ``ros2 launch`` a Ctrl-C reaches each node twice: the terminal signals the whole process group,
then launch signals each process. The executables here get the launch file's arguments (``-r
__node:=<name> -r __ns:=<namespace> --params-file <file>``), then two signals 50 ms apart; each
must exit 0 without a traceback, with its final snapshot written and its journal intact. While
they run, the graph must hold each node name once, and each node must report the value the params
file gave it (a helper node renamed by the global ``__node`` remap used to answer instead).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import install_prefix, own_node, start_installed
from rcl_interfaces.srv import GetParameters

from memory_nodes.srv import RecordEvent

PREFIX = install_prefix()
MEMORIES = ("spatial", "temporal", "episodic", "semantic")
# executable -> the journals its final save writes
EXECUTABLES = {
    "spatial_memory": ("spatial",),
    "temporal_memory": ("temporal",),
    "episodic_memory": ("episodic",),
    "semantic_memory": ("semantic",),
    "memory_ask": (),
    "memory_perception": (),
    "memory_system": MEMORIES,
}
PERIOD_FROM_FILE = 7.5  # diagnostics_period_s: every node declares it; the default is 1.0


def _params_file(folder: Path) -> Path:
    path = folder / "params.yaml"
    path.write_text(f"/**:\n  ros__parameters:\n    diagnostics_period_s: {PERIOD_FROM_FILE}\n"
                    f"    text_search: false\n")
    return path


def _start(executable: str, namespace: str, folder: Path, params: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    ros_args = ["--params-file", str(params), "-r", f"__ns:={namespace}", "-p", f"memory_directory:={folder}"]
    if executable != "memory_system":  # the launch file's name= (memory_system names its nodes itself)
        ros_args = ["-r", f"__node:={executable}", *ros_args]
    return start_installed(executable, ros_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _journal_is_intact_and_saved(path: Path) -> tuple[bool, str]:
    if not path.is_file():
        return False, f"{path.name} missing"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        snapshots = db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
        events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()
    # The final save is a snapshot that absorbs the log: no event may be left after it.
    return integrity == "ok" and snapshots == 1 and events == 0, f"{path.name}: {integrity}, {snapshots} " \
                                                                   f"snapshot(s), {events} events after it"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_two_stop_signals_end_every_executable_cleanly_with_its_final_save(stop_signal, tmp_path):
    params = _params_file(tmp_path)
    run = uuid.uuid4().hex[:8]
    namespaces = {executable: f"/stop_{run}_{i}" for i, executable in enumerate(EXECUTABLES)}
    processes = {executable: _start(executable, namespaces[executable], tmp_path / executable, params)
                 for executable in EXECUTABLES}
    try:
        with own_node(f"stop_test_{run}") as (node, executor):
            # Ready when every memory node serves its save service and the ask node its ask service.
            expected = {f"{namespaces[e]}/{m}/save" for e, memories in EXECUTABLES.items() for m in memories}
            expected |= {f"{namespaces['memory_ask']}/ask", f"{namespaces['memory_system']}/ask"}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                served = {name for name, _ in node.get_service_names_and_types()}
                if expected <= served and all(p.poll() is None for p in processes.values()):
                    break
                executor.spin_once(timeout_sec=0.2)
            # A node that never came up: say whether its process died, and what it wrote.
            exited = {} if expected <= served else {
                e: (p.returncode, p.stderr.read().decode(errors="replace")[-3000:])
                for e, p in processes.items() if p.poll() is not None}
            assert expected <= served, (sorted(expected - served), exited)

            # One name per node in the graph: under the launch file's remaps the ask node used to
            # appear twice (its helper node took the remapped name as well).
            graph = [f"{ns.rstrip('/')}/{name}" for name, ns in node.get_node_names_and_namespaces()
                     if ns.startswith(f"/stop_{run}")]
            duplicated = sorted({name for name in graph if graph.count(name) > 1})
            assert not duplicated, duplicated
            for executable in EXECUTABLES:
                if executable == "memory_system":
                    continue
                client = node.create_client(GetParameters, f"{namespaces[executable]}/{executable}/get_parameters")
                assert client.wait_for_service(timeout_sec=10.0), executable
                future = client.call_async(GetParameters.Request(names=["diagnostics_period_s"]))
                executor.spin_until_future_complete(future, timeout_sec=10.0)
                assert future.done() and future.result().values[0].double_value == PERIOD_FROM_FILE, executable

            # Something acknowledged for the final save to carry.
            for executable in ("episodic_memory", "memory_system"):
                client = node.create_client(RecordEvent, f"{namespaces[executable]}/record_event")
                future = client.call_async(RecordEvent.Request(kind="note", text="the mug is in the sink"))
                executor.spin_until_future_complete(future, timeout_sec=10.0)
                assert future.done() and future.result().success, executable

            for process in processes.values():
                os.killpg(process.pid, stop_signal)
            time.sleep(0.05)
            for process in processes.values():
                os.killpg(process.pid, stop_signal)
            outputs = {}
            for executable, process in processes.items():
                try:
                    _out, err = process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    _out, err = process.communicate()
                outputs[executable] = err.decode(errors="replace")
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    for executable, process in processes.items():
        assert process.returncode == 0, f"{executable} exited {process.returncode}:\n{outputs[executable]}"
        assert "Traceback" not in outputs[executable], f"{executable}:\n{outputs[executable]}"
        for memory in EXECUTABLES[executable]:
            intact, detail = _journal_is_intact_and_saved(tmp_path / executable / f"{memory}.sqlite3")
            assert intact, f"{executable}: {detail}\n{outputs[executable]}"
    # The note acknowledged before the stop is in the saved episodic memory.
    for executable in ("episodic_memory", "memory_system"):
        db = sqlite3.connect(f"file:{tmp_path / executable / 'episodic.sqlite3'}?mode=ro", uri=True)
        state = db.execute("SELECT state FROM snapshots").fetchone()[0]
        db.close()
        assert "the mug is in the sink" in state, executable


PLANNER = """
import sys
import rclpy
from memory_nodes.ros.client import MemoryClient, MemoryServiceError
rclpy.init()
with MemoryClient(namespace="/nobody_{run}", timeout_s=0.3) as client:
    try:
        client.where_is("mug")
    except MemoryServiceError as error:
        print("no memory:", error)
rclpy.shutdown()
sys.exit(3)
"""


def test_a_planner_script_using_the_client_exits_with_its_own_status(tmp_path):
    """The client's spin thread used to be left inside rcl's wait at exit: the interpreter aborted
    ("terminate called without an active exception", status 134) and the planner's status was lost."""
    script = tmp_path / "planner.py"
    script.write_text(PLANNER.format(run=uuid.uuid4().hex[:8]))
    for _ in range(3):  # the abort depended on where the thread was when the interpreter ended
        result = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60, env=os.environ.copy())
        assert result.returncode == 3 and result.stderr == b"", result.stderr.decode(errors="replace")
        assert b"no memory" in result.stdout


DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tum_fr1_rpy"


@pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data is not at {DATA}")
@pytest.mark.parametrize("interrupt", [False, True], ids=["to the end", "two Ctrl-C"])
def test_memory_replay_exits_cleanly(interrupt, tmp_path):
    """Run beside a perception node of its own, as the README's real-data commands run it."""
    namespace = f"/replay_{uuid.uuid4().hex[:8]}"
    perception = _start("memory_perception", namespace, tmp_path / "perception", _params_file(tmp_path))
    command = [str(PREFIX / "lib" / "memory_nodes" / "memory_replay"), "--namespace", namespace,
               "--rate", "0.2" if interrupt else "4", "tum", str(DATA), "--intrinsics", "517.3", "516.5", "318.6",
               "255.3"]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                   env=os.environ.copy())
        if interrupt:
            time.sleep(4.0)
            assert process.poll() is None, "the replay ended before it could be interrupted"
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(0.05)
            os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        os.killpg(perception.pid, signal.SIGINT)
        perception.communicate(timeout=30)
    assert process.returncode == 0 and err == b"", (process.returncode, err.decode(errors="replace"))
    assert (b"stopped" in out) == interrupt, out
    assert perception.returncode == 0
