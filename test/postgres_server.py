"""A throwaway PostgreSQL cluster of the tests' own (as pytest-postgresql makes one): ``initdb`` and
``pg_ctl`` from Debian's ``postgresql`` package in a temporary folder, listening only on a Unix
socket in that folder, so it neither needs nor touches a server of the host. As root, the server
runs as the ``postgres`` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg


def postgres_bin() -> Path | None:
    """Debian's versioned bin folder (initdb, pg_ctl are not on PATH), newest first; None if absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class ThrowawayPostgres:
    def __init__(self, port: int = 5432) -> None:
        # Its own folder in /tmp: the server's user must be able to reach it (pytest's tmp_path is
        # private to the user running the tests).
        self.directory = Path(tempfile.mkdtemp(prefix="memory_nodes_postgres_"))
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.port = port
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)

    def initialise(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.directory, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        result = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "memory",
                           "--no-sync", "-E", "UTF8")
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr}")

    def start(self) -> None:
        options = f"-k {self.socket_dir} -c listen_addresses='' -p {self.port} -c fsync=on"
        result = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                           str(self.directory / "server.log"), "-w", "-t", "60", "start")
        if result.returncode != 0:
            log = (self.directory / "server.log").read_text() if (self.directory / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{log}")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def conninfo(self) -> str:
        return f"host={self.socket_dir} port={self.port} user=memory dbname=postgres"

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            return connection.execute(sql, params or None).fetchall()

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            connection.execute(sql)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its connection string."""
        self.execute(f"CREATE DATABASE {name}")
        return self.conninfo.replace("dbname=postgres", f"dbname={name}")
