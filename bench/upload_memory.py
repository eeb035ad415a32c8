"""Uploads one large file through a live uvicorn and reports what it cost the server.

    python -m bench.upload_memory [--size-mb 200]

Prints and writes to reports/upload_memory.md: the file size, the server's peak RSS
growth during the upload (sampled from /proc every 10 ms) as a ratio of the file size
(target: under 0.10), the upload throughput in MB/s beside `cp` of the same file to
the same disk (with an fsync, as the service syncs each blob), and whether the download
matched.
"""

import argparse
import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from bench.common import write_report
from harness.accounts import new_tenant_admin
from harness.live_server import live_server

CHUNK = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = rss_bytes(pid)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def write_text_file(path: Path, size: int) -> str:
    """A UTF-8 text file of exactly `size` bytes; returns its sha256."""
    digest = hashlib.sha256()
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    block = line * (CHUNK // len(line) + 1)
    with path.open("wb") as out:
        remaining = size
        while remaining:
            part = block[: min(CHUNK, remaining)]
            out.write(part)
            digest.update(part)
            remaining -= len(part)
    return digest.hexdigest()


def copy_seconds(source: Path) -> float:
    """`cp` of the file beside itself, then an fsync of the copy."""
    target = source.with_suffix(".copy")
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)  # noqa: S603, S607
    with target.open("rb") as copy:
        os.fsync(copy.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def run(size_mb: int) -> dict[str, float | str]:
    size = size_mb * 1024 * 1024
    with TemporaryDirectory() as tmp:
        source = Path(tmp) / "large.txt"
        expected = write_text_file(source, size)
        cp_seconds = copy_seconds(source)
        env = {"MAX_FILE_SIZE_MB": str(size_mb + 1), "RATE_LIMIT_PER_MINUTE": "1000"}
        with (
            live_server(env) as server,
            httpx.Client(base_url=server.base_url, timeout=300) as http,
        ):
            assert server.process is not None
            http.headers.update(new_tenant_admin(server.base_url))
            baseline = rss_bytes(server.process.pid)
            sampler = PeakSampler(server.process.pid)
            sampler.start()
            started = time.perf_counter()
            with source.open("rb") as handle:
                response = http.post(
                    "/api/v1/files/upload", files={"file": ("large.txt", handle, "text/plain")}
                )
            elapsed = time.perf_counter() - started
            peak = sampler.stop()
            response.raise_for_status()
            stored = response.json()
            digest = hashlib.sha256()
            with http.stream("GET", f"/api/v1/files/{stored['id']}") as download:
                for chunk in download.iter_bytes(CHUNK):
                    digest.update(chunk)
    growth = peak - baseline
    return {
        "file_mb": size_mb,
        "baseline_rss_mb": round(baseline / 2**20, 1),
        "peak_rss_growth_mb": round(growth / 2**20, 1),
        "growth_ratio": round(growth / size, 4),
        "throughput_mb_s": round(size_mb / elapsed, 1),
        "cp_mb_s": round(size_mb / cp_seconds, 1),
        "sha256_matches": str(stored["sha256"] == expected == digest.hexdigest()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    result = run(args.size_mb)
    table = "| " + " | ".join(result) + " |\n|" + "---|" * len(result) + "\n| "
    table += " | ".join(str(v) for v in result.values()) + " |"
    write_report("upload_memory.md", "Large upload through a live uvicorn (1 worker)", table)
    print(table)


if __name__ == "__main__":
    main()
