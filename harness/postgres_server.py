"""A throwaway PostgreSQL on a free loopback port, that a test can stop and start
without touching any other database on the machine (its own data directory, made with
initdb from Debian's packages; run as the `postgres` user when started as root)."""

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from harness.live_server import free_port

START_TIMEOUT_S = 30.0
PASSWORD = "faults"  # noqa: S105 - a loopback test server that lives for one test


def _bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts)
    if not versions:
        raise FileNotFoundError("PostgreSQL is not installed (scripts/services.sh postgres)")
    return versions[-1].parent


class PostgresServer:
    def __init__(self) -> None:
        self._bin = _bin_dir()
        self._root = Path(tempfile.mkdtemp(prefix="pg-faults-"))
        self._data = self._root / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://saas:{PASSWORD}@127.0.0.1:{self.port}/saas"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self._root, "postgres", "postgres")
        password_file = self._root / "pw"
        password_file.write_text(PASSWORD)
        if self._as_postgres:
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self._data), "-U", "saas", "-A", "scram-sha-256",
            "--pwfile", str(password_file), "--no-sync",
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603

    def start(self) -> "PostgresServer":
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", str(self._root / "log"),
                  "-w", "start")  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL did not answer on port {self.port}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        async def probe() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=self.port, user="saas", password=PASSWORD,
                database="postgres", timeout=2,
            )  # fmt: skip
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute("CREATE DATABASE saas")
            await conn.close()

        try:
            asyncio.run(probe())
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        return True

    def stop(self, mode: str = "immediate") -> None:
        """By default an abrupt stop (`immediate`): clients lose their connections at
        once; `fast` ends them as an administrator's restart does."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
