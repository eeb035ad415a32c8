"""A throwaway redis-server on a free loopback port, that a test can stop and start, or
freeze and thaw."""

import contextlib
import os
import shutil
import signal
import subprocess
import time

import redis

from harness.live_server import free_port

START_TIMEOUT_S = 15.0


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (scripts/services.sh redis)")
        self._binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and our arguments
            [
                self._binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections for it, but nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
