"""A real uvicorn serving the API on a free loopback port, for tests, benchmarks and the
Rust suite: started with its own environment, ready when `/ready` answers 200 (polled
with a deadline, never a fixed sleep), and stopped whatever happened.

    python -m harness.live_server [--workers 2] [--env KEY=VALUE ...] -- COMMAND ...

runs COMMAND with `API_BASE_URL` pointing at the server and exits with its status.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 1,
        port: int | None = None,
        migrate: bool = True,
        log_path: Path | None = None,
        root: Path = ROOT,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.migrate = migrate
        self.root = root  # the checkout whose app is served
        self._data_dir = tempfile.TemporaryDirectory(prefix="live-server-")
        self.env = {
            **os.environ,
            "API_ENV": "dev",
            "DATA_DIR": self._data_dir.name,
            "DB_AUTO_MIGRATE": "false",
            **(env or {}),
        }
        self.log_path = log_path or Path(self._data_dir.name) / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "LiveServer":
        if self.migrate:
            subprocess.run(
                [sys.executable, "-m", "app", "migrate"],
                cwd=self.root,
                env=self.env,
                check=True,
                capture_output=True,
            )
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "app",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"/ready did not answer 200 within {timeout}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self.process = None
        return code

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        self._data_dir.cleanup()

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def live_server(env: Mapping[str, str] | None = None, **kwargs: object) -> Iterator[LiveServer]:
    server = LiveServer(env, **kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.live_server", description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run against the server after --")
    env = dict(item.split("=", 1) for item in args.env)
    with live_server(env, workers=args.workers, port=args.port) as server:
        print(f"live server at {server.base_url} ({args.workers} worker(s))", flush=True)
        child_env = {**os.environ, "API_BASE_URL": server.base_url}
        return subprocess.call(command, env=child_env)  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main())
