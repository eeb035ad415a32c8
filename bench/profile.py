"""Where a request's time goes: py-spy samples the API (one worker, as `bench.compare`
serves it) while wrk drives one path, and writes a flame graph per path.

    python -m bench.profile [--seconds 8] [--postgres URL] [--out docs/profiles]

Each path of `bench.compare` gets `<out>/<path>.svg` (py-spy's flame graph, idle
frames left out) and `<out>/<path>.txt`: the functions with the most samples, own and
cumulative, so that a change's effect can be read without a browser.
"""

import argparse
import collections
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.compare import RAISED_LIMITS, Target, postgres_database, prepare, read_paths
from bench.wrk import run_wrk
from harness.live_server import ROOT, LiveServer

TOP = 40
KEEP_COLLAPSED = bool(os.environ.get("PROFILE_KEEP_COLLAPSED"))
PY_SPY = str(Path(sys.executable).parent / "py-spy")


def paths(target: Target, label: str = "") -> dict[str, tuple[str, dict[str, str] | None]]:
    """The read paths of `bench.compare`, by file name ("users-page", "postgres-...")."""
    return {
        label + name.replace(" 64 KiB", "-64k").replace(" ", "-"): (url, headers)
        for name, url, headers, _ in read_paths(target)
    }


def summarize(collapsed: Path) -> str:
    """The hottest functions of py-spy's collapsed stacks, by own and total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples", "", "own %  function"]
    lines += [f"{100 * n / samples:5.1f}  {f}" for f, n in own.most_common(TOP)]
    lines += ["", "total %  function"]
    lines += [f"{100 * n / samples:5.1f}  {f}" for f, n in total.most_common(TOP)]
    return "\n".join(lines) + "\n"


def _short_paths(text: str) -> str:
    """Source paths relative to the checkout or to site-packages, as the summary has them."""
    for prefix in sorted({str(p) + "/" for p in map(Path, sys.path) if p.is_dir()}, key=len)[::-1]:
        text = text.replace(prefix, "")
    return text.replace(str(ROOT) + "/", "")


def record(pid: int, url: str, headers: dict[str, str] | None, seconds: int, out: Path) -> None:
    # Only the thread holding the GIL is sampled: where Python time goes. (Worker threads
    # blocked on their queues would otherwise show as busy.)
    common = [PY_SPY, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "500"]
    common.append("--gil")
    for fmt, suffix in (("flamegraph", ".svg"), ("raw", ".collapsed")):
        spy = subprocess.Popen(  # noqa: S603 - py-spy from our environment
            [*common, "--format", fmt, "--output", str(out.with_suffix(suffix))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run_wrk(url, seconds=seconds + 1, headers=headers)
        if spy.wait(timeout=seconds + 30) != 0:
            raise RuntimeError("py-spy failed (it needs ptrace: run as root or set ptrace_scope 0)")
    graph = out.with_suffix(".svg")
    graph.write_text(_short_paths(graph.read_text()))
    collapsed = out.with_suffix(".collapsed")
    out.with_suffix(".txt").write_text(summarize(collapsed))
    if not KEEP_COLLAPSED:
        collapsed.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", ""))
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "profiles")
    parser.add_argument("--only", action="append", default=[], help="profile these paths")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = RAISED_LIMITS
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="profile-")))
        sqlite_url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        server = stack.enter_context(LiveServer({**env, "DATABASE_URL": sqlite_url}))
        plan = {
            name: (server, spec)
            for name, spec in paths(prepare(server.base_url, sqlite_url)).items()
        }
        if args.postgres:
            pg_url = stack.enter_context(postgres_database(args.postgres))
            pg = stack.enter_context(LiveServer({**env, "DATABASE_URL": pg_url}))
            pg_target = prepare(pg.base_url, pg_url)
            plan.update({n: (pg, s) for n, s in paths(pg_target, "postgres-").items()})
        for name, (live, (url, headers)) in plan.items():
            if args.only and name not in args.only:
                continue
            assert live.process is not None
            record(live.process.pid, url, headers, args.seconds, args.out / name)
            print(f"{name}: {args.out / name}.svg", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
